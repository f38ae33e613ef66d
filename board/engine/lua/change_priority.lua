--[[
  Changes a job's priority. A waiting job (in wait or prioritized) moves to its new place at once; a job
  in another state keeps its place and runs with the new priority when it is next enqueued.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] priority (0 = none)   ARGV[4] "1" for lifo
  Returns: 1 done, JOB_NOT_FOUND (no key, or a key that is not a job hash).
  Events: none.
]]
local jobId = ARGV[2]
local jobKey = Q.base .. jobId
if jobKeyType(jobKey) ~= "hash" then return JOB_NOT_FOUND end
local priority = tonumber(ARGV[3])
rcall("HSET", jobKey, "priority", priority)
local waiting = rcall("LREM", Q.wait, 0, jobId) > 0
if not waiting then waiting = rcall("ZREM", Q.prioritized, jobId) > 0 end
if waiting then enqueue(Q, jobId, priority, ARGV[4] == "1") end
return 1
