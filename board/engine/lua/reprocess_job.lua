--[[
  Retries one finished job: from failed (or completed) back to wait, keeping its id.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] state it must be in ("failed" or "completed")
  ARGV[4] "1" to reset attemptsMade and attemptsStarted
  Returns: 1 retried, JOB_NOT_FOUND (no key, or a key that is not a job hash), JOB_NOT_IN_STATE (not in
  that state).
  Events: waiting (prev failed or completed).
]]
local jobId, state = ARGV[2], ARGV[3]
local jobKey = Q.base .. jobId
if jobKeyType(jobKey) ~= "hash" then return JOB_NOT_FOUND end
local setKey = state == "completed" and Q.completed or Q.failed
if rcall("ZREM", setKey, jobId) == 0 then return JOB_NOT_IN_STATE end
rcall("HDEL", jobKey, "finishedOn", "processedOn", state == "completed" and "returnvalue" or "failedReason")
if ARGV[4] == "1" then rcall("HDEL", jobKey, "atm", "ats") end
requeue(Q, jobId)
emit(Q, "waiting", "jobId", jobId, "prev", state)
return 1
