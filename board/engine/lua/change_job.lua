--[[
  Small changes to one job: its priority, its delay, its data, its progress, or a log line.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] what   ARGV[4..] its values:
    "priority" priority [, "1" lifo]    moves it within wait/prioritized when it is waiting
    "delay"    new delay (ms), now (ms) the job must be delayed; it becomes due at now + delay
    "data"     data JSON
    "progress" progress JSON             also written to the events stream
    "log"      line, lines to keep (0 = all)   returns the number of log lines
  Returns 1 (or the log count) when done, -1 when there is no such job (no key, or a key that is not
  a job hash), -3 when the job's state does not allow it.
]]
local jobId, what = ARGV[2], ARGV[3]
local jobKey = BASE .. jobId
if jobKeyType(jobKey) ~= "hash" then return -1 end

if what == "priority" then
  local priority = tonumber(ARGV[4])
  rcall("HSET", jobKey, "priority", priority)
  local waiting = rcall("LREM", Q.wait, 0, jobId) > 0
  if not waiting then waiting = rcall("ZREM", Q.prioritized, jobId) > 0 end
  if waiting then enqueue(jobId, priority, ARGV[5] == "1") end
  return 1
elseif what == "delay" then
  if not rcall("ZSCORE", Q.delayed, jobId) then return -3 end
  local delay, now = tonumber(ARGV[4]), tonumber(ARGV[5])
  rcall("ZREM", Q.delayed, jobId)
  rcall("HSET", jobKey, "delay", delay)
  addToDelayed(jobId, now + delay)
  return 1
elseif what == "data" then
  rcall("HSET", jobKey, "data", ARGV[4])
  return 1
elseif what == "progress" then
  rcall("HSET", jobKey, "progress", ARGV[4])
  emit("progress", "jobId", jobId, "data", ARGV[4])
  return 1
elseif what == "log" then
  local count = rcall("RPUSH", jobKey .. ":logs", ARGV[4])
  local keep = tonumber(ARGV[5])
  if keep > 0 and count > keep then
    rcall("LTRIM", jobKey .. ":logs", -keep, -1)
    count = keep
  end
  return count
end
return redis.error_reply("unknown change " .. what)
