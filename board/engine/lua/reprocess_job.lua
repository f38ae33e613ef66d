--[[
  Retries one finished job: from failed (or completed) back to wait, keeping its id.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] state it must be in ("failed" or "completed")
  ARGV[4] "1" to reset attemptsMade and attemptsStarted
  Returns 1 retried, -1 no such job (or its key is not a job hash), -3 not in that state.
]]
local jobId, state = ARGV[2], ARGV[3]
local jobKey = BASE .. jobId
if jobKeyType(jobKey) ~= "hash" then return -1 end
local setKey = state == "completed" and Q.completed or Q.failed
if rcall("ZREM", setKey, jobId) == 0 then return -3 end
rcall("HDEL", jobKey, "finishedOn", "processedOn", state == "completed" and "returnvalue" or "failedReason")
if ARGV[4] == "1" then rcall("HDEL", jobKey, "atm", "ats") end
enqueue(jobId, jobPriority(jobKey), jobIsLifo(jobKey))
emit("waiting", "jobId", jobId, "prev", state)
return 1
