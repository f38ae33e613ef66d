--[[
  Appends a line to a job's logs, keeping the newest lines only when asked to.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] line   ARGV[4] lines to keep (0 = all)
  Returns: the number of log lines, or JOB_NOT_FOUND (no key, or a key that is not a job hash).
  Events: none.
]]
local jobKey = Q.base .. ARGV[2]
if jobKeyType(jobKey) ~= "hash" then return JOB_NOT_FOUND end
local logsKey = jobKey .. ":logs"
local count = rcall("RPUSH", logsKey, ARGV[3])
local keep = tonumber(ARGV[4])
if keep > 0 and count > keep then
  rcall("LTRIM", logsKey, -keep, -1)
  count = keep
end
return count
