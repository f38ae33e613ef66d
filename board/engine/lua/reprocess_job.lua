--[[
  Retries one finished job: from failed (or completed) back to wait, keeping its id; a flow child is
  pending for its parent again. A dead letter (a failed job whose opts carry deadLetter, see _dead.lua)
  is sent back to the queue it came from instead.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] state it must be in ("failed" or "completed")
  ARGV[4] "1" to reset attemptsMade and attemptsStarted   ARGV[5] now (ms)
  Returns: 1 retried, JOB_NOT_FOUND (no key, or a key that is not a job hash), JOB_NOT_IN_STATE (not in
  that state).
  Events: waiting (prev failed or completed); for a dead letter, removed (prev failed) here and, on its
  origin queue, waiting (prev failed) or added and waiting.
]]
--@include _dead
local jobId, state = ARGV[2], ARGV[3]
local jobKey = Q.base .. jobId
if jobKeyType(jobKey) ~= "hash" then return JOB_NOT_FOUND end
local setKey = state == "completed" and Q.completed or Q.failed
if not rcall("ZSCORE", setKey, jobId) then return JOB_NOT_IN_STATE end
if state == "failed" then
  local origin, originId = deadLetterOrigin(Q, jobKey)
  if origin then
    sendBack(Q, jobId, origin, originId, ARGV[4] == "1", tonumber(ARGV[5]))
    return 1
  end
end
rcall("ZREM", setKey, jobId)
rcall("HDEL", jobKey, "finishedOn", "processedOn", state == "completed" and "returnvalue" or "failedReason")
if ARGV[4] == "1" then rcall("HDEL", jobKey, "atm", "ats") end
requeue(Q, jobId)
childBackToParent(jobKey, state)
emit(Q, "waiting", "jobId", jobId, "prev", state)
return 1
