--[[
  Sets a job's progress.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] progress JSON
  Returns: 1 done, JOB_NOT_FOUND (no key, or a key that is not a job hash).
  Events: progress (with the progress JSON as data).
]]
local jobId = ARGV[2]
local jobKey = Q.base .. jobId
if jobKeyType(jobKey) ~= "hash" then return JOB_NOT_FOUND end
rcall("HSET", jobKey, "progress", ARGV[3])
emit(Q, "progress", "jobId", jobId, "data", ARGV[3])
return 1
