--[[
  Promotes one delayed job so that it runs now: it goes to wait (or prioritized) with its delay reset to 0.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId
  Returns: 1 promoted, JOB_NOT_FOUND (no key, or a key that is not a job hash), JOB_NOT_IN_STATE (not
  delayed).
  Events: waiting (prev delayed).
]]
local jobId = ARGV[2]
local jobKey = Q.base .. jobId
if jobKeyType(jobKey) ~= "hash" then return JOB_NOT_FOUND end
if rcall("ZREM", Q.delayed, jobId) == 0 then return JOB_NOT_IN_STATE end
rcall("HSET", jobKey, "delay", 0)
requeue(Q, jobId)
emit(Q, "waiting", "jobId", jobId, "prev", "delayed")
return 1
