--[[
  Gives a scheduler its next run once a worker has taken the current one (BullMQ's updateJobScheduler,
  run from the worker as nextJobFromJobData does). Only the taken run that the scheduler's score names
  may produce the next one: a stale producer (a run replaced by an upsert, a retry of an earlier run, a
  second call for the same run) produces nothing, so a scheduler never has two next runs.
  The next run's name and data come from the scheduler's hash; its options from the taken run. Whether
  the limit is reached is the caller's to say, as Node's worker does: from the taken run's
  opts.repeat.count (which an upsert starts again at 1), not from the hash's ic (which an upsert keeps).
  For an id with ':' the hash is only read, never written (see ownsSchedulerKey).

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base      ARGV[2] scheduler id     ARGV[3] the taken run's job id (the producer)
  ARGV[4] now (ms)      ARGV[5] next run (ms) of a cron scheduler, "" for `every`
  ARGV[6] every (ms) from the taken run's options, used when the hash has none, or ""
  ARGV[7] offset (ms) from the taken run's options, or ""
  ARGV[8] the taken run's name, used when the hash has none
  ARGV[9] the next run's opts JSON, without delay and jobId   ARGV[10] priority   ARGV[11] "1" for lifo
  Returns: the next run's job id; "" when there is none (the scheduler is gone, the producer is stale,
    its endDate is reached, or that run exists already).
  Events: added, then delayed or waiting, for the next run; duplicated when that run exists already.
]]
--@include _scheduler
local schedulerId, producer, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local repeats, hashKey = repeatKey(Q), schedulerKey(Q, schedulerId)
local ownsHash = ownsSchedulerKey(schedulerId) and jobKeyType(hashKey) == "hash"

local prevMillis = tonumber(rcall("ZSCORE", repeats, schedulerId))
if not prevMillis or producer ~= runId(schedulerId, prevMillis) then return "" end

local nextMillis = tonumber(ARGV[5])
local every = tonumber(jobField(hashKey, "every")) or tonumber(ARGV[6])
if every and every > 0 then
  local storedOffset = jobField(hashKey, "offset")
  local offset
  nextMillis, offset = everyNextMillis(prevMillis, every, now, storedOffset or ARGV[7],
    jobField(hashKey, "startDate"))
  if not storedOffset and ownsHash then
    rcall("HSET", hashKey, "offset", offset)
  end
end
if not nextMillis then return "" end

local endDate = tonumber(jobField(hashKey, "endDate"))
if endDate and nextMillis > endDate then return "" end

local jobId = runId(schedulerId, nextMillis)
if rcall("EXISTS", Q.base .. jobId) == 1 then
  emit(Q, "duplicated", "jobId", jobId)
  return ""
end
rcall("ZADD", repeats, nextMillis, schedulerId)
if ownsHash then bump(hashKey, "ic", 1) end
rcall("INCR", Q.id)
initMaxEvents(Q)
local name = jobField(hashKey, "name") or ARGV[8]
local data = jobField(hashKey, "data") or "{}"
addRun(Q, schedulerId, jobId, name, data, ARGV[9], now, math.max(0, nextMillis - now), tonumber(ARGV[10]),
  ARGV[11] == "1")
return jobId
