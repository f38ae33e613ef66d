--[[
  Creates or replaces a job scheduler (BullMQ's addJobScheduler) and gives it its next run.
  A next run that has not started yet is replaced (keeping its due time when the schedule is unchanged);
  one that has started is left to its worker, and the new next run comes after it. The next run's id must be free:
  an `every` run moves to a later slot, a cron run is refused (the caller picks a later time).

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base           ARGV[2] scheduler id          ARGV[3] now (ms)
  ARGV[4] next run (ms) of a cron scheduler, "" for `every`
  ARGV[5] every (ms), "" for cron
  ARGV[6] template name      ARGV[7] template data JSON    ARGV[8] template opts JSON, "" for none
  ARGV[9] the run's opts JSON, without delay and jobId       ARGV[10] priority   ARGV[11] "1" for lifo
  ARGV[12] pattern or ""     ARGV[13] tz or ""             ARGV[14] startDate (ms) or ""
  ARGV[15] endDate (ms) or ""   ARGV[16] limit or ""       ARGV[17] offset (ms) given, or ""
  Returns: {run id, delay (ms), {scheduler hash fields...}, {run hash fields...}}; {"", 0, {}, {}} when
    the next run would fall after endDate (nothing written); SCHEDULER_JOB_ID_COLLISION,
    SCHEDULER_JOB_SLOTS_BUSY.
  Events: added, then delayed or waiting, for the next run.
]]
--@include _scheduler
local schedulerId, now = ARGV[2], tonumber(ARGV[3])
local every = tonumber(ARGV[5])
local startDate, endDate, givenOffset = tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[17])
local repeats, hashKey = repeatKey(Q), schedulerKey(Q, schedulerId)

local prevMillis = tonumber(rcall("ZSCORE", repeats, schedulerId))
local prevRun = prevMillis and runId(schedulerId, prevMillis)
local replaceable = prevRun ~= nil and pendingState(Q, prevRun) ~= nil
local storedOffset = tonumber(jobField(hashKey, "offset"))

local nextMillis, offset
if every then
  local sameEvery = prevMillis ~= nil and tonumber(jobField(hashKey, "every")) == every
  if replaceable and sameEvery then
    nextMillis, offset = prevMillis, givenOffset or storedOffset
  else
    -- An unchanged interval keeps its grid, also when runs were missed and the next one catches up.
    local keptOffset = givenOffset or (sameEvery and storedOffset or nil)
    nextMillis, offset = everyNextMillis(sameEvery and prevMillis or nil, every, now, keptOffset, startDate)
  end
elseif replaceable and (jobField(hashKey, "pattern") or "") == ARGV[12] and (jobField(hashKey, "tz") or "") == ARGV[13]
    and (jobField(hashKey, "startDate") or "") == ARGV[14] then
  -- The same schedule: a run that is due but not taken yet keeps its time instead of being skipped.
  nextMillis, offset = prevMillis, givenOffset or 0
else
  nextMillis, offset = tonumber(ARGV[4]), givenOffset or 0
end

local jobId = runId(schedulerId, nextMillis)
if (jobId ~= prevRun or not replaceable) and rcall("EXISTS", Q.base .. jobId) == 1 then
  if not every then return SCHEDULER_JOB_ID_COLLISION end
  local scans, taken = 0, 1
  repeat
    nextMillis = nextMillis + every
    jobId = runId(schedulerId, nextMillis)
    scans = scans + 1
    taken = rcall("EXISTS", Q.base .. jobId)
  until taken == 0 or scans >= EVERY_SLOT_SCANS
  if taken == 1 then return SCHEDULER_JOB_SLOTS_BUSY end
end
if endDate and nextMillis > endDate then return {"", 0, {}, {}} end

if replaceable then removePending(Q, prevRun) end
initMaxEvents(Q)

-- The hash is written whole, as BullMQ's storeJobScheduler does: fields of an earlier version of the
-- scheduler (a pattern it no longer has) must not linger. The run count carries over.
local iterations = tonumber(jobField(hashKey, "ic")) or 1
local fields = {"name", ARGV[6]}
local function put(name, value)
  if value ~= nil and value ~= "" then
    fields[#fields + 1] = name
    fields[#fields + 1] = value
  end
end
put("tz", ARGV[13])
put("limit", ARGV[16])
put("pattern", ARGV[12])
put("startDate", ARGV[14])
put("endDate", ARGV[15])
put("every", ARGV[5])
put("offset", offset and string.format("%d", offset))
put("opts", ARGV[8])
if ARGV[7] ~= "{}" then put("data", ARGV[7]) end
put("ic", string.format("%d", iterations))
rcall("DEL", hashKey)
rcall("HSET", hashKey, unpack(fields))
rcall("ZADD", repeats, nextMillis, schedulerId)
-- BullMQ counts each run in the queue's id counter, as it does for every job it adds.
rcall("INCR", Q.id)

local delay = math.max(0, nextMillis - now)
addRun(Q, schedulerId, jobId, ARGV[6], ARGV[7], ARGV[9], now, delay, tonumber(ARGV[10]), ARGV[11] == "1")
return {jobId, delay, rcall("HGETALL", hashKey), rcall("HGETALL", Q.base .. jobId)}
