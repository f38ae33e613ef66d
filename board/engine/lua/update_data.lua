--[[
  Replaces a job's data.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] data JSON
  Returns: 1 done, JOB_NOT_FOUND (no key, or a key that is not a job hash).
  Events: none.
]]
local jobKey = Q.base .. ARGV[2]
if jobKeyType(jobKey) ~= "hash" then return JOB_NOT_FOUND end
rcall("HSET", jobKey, "data", ARGV[3])
return 1
