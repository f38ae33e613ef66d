--[[
  Removes a job scheduler (BullMQ's removeJobScheduler) and its next run when that run has not started.
  A run already taken by a worker finishes as usual, and produces nothing more: its scheduler is gone.
  The "repeat:<id>" hash is deleted only for an id this engine could have made (no ':'): for another,
  that key may be a job's (see ownsSchedulerKey), so the scheduler leaves the sorted set and its hash
  stays.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] scheduler id
  Returns: 1 removed, 0 no such scheduler.
  Events: removed, for the next run, with the state it left as prev.
]]
--@include _scheduler
local schedulerId = ARGV[2]
local repeats = repeatKey(Q)
local millis = tonumber(rcall("ZSCORE", repeats, schedulerId))
if millis then
  local jobId = runId(schedulerId, millis)
  local prev = removePending(Q, jobId)
  if prev then emit(Q, "removed", "jobId", jobId, "prev", prev) end
end
if rcall("ZREM", repeats, schedulerId) == 1 then
  if ownsSchedulerKey(schedulerId) then rcall("DEL", schedulerKey(Q, schedulerId)) end
  return 1
end
return 0
