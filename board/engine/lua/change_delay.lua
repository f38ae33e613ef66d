--[[
  Changes the delay of a delayed job: it becomes due at now + delay.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] new delay (ms)   ARGV[4] now (ms)
  Returns: 1 done, JOB_NOT_FOUND (no key, or a key that is not a job hash), JOB_NOT_IN_STATE (not delayed).
  Events: delayed.
]]
local jobId = ARGV[2]
local jobKey = Q.base .. jobId
if jobKeyType(jobKey) ~= "hash" then return JOB_NOT_FOUND end
if not rcall("ZSCORE", Q.delayed, jobId) then return JOB_NOT_IN_STATE end
local delay, now = tonumber(ARGV[3]), tonumber(ARGV[4])
rcall("ZREM", Q.delayed, jobId)
rcall("HSET", jobKey, "delay", delay)
addToDelayed(Q, jobId, now + delay)
return 1
