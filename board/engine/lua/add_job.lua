--[[
  Adds one job. A custom job id that already exists makes the add a no-op that returns that id.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base     ARGV[2] custom job id or ""   ARGV[3] name        ARGV[4] data JSON
  ARGV[5] opts JSON    ARGV[6] timestamp (ms)        ARGV[7] delay (ms)  ARGV[8] priority
  ARGV[9] "1" for lifo ARGV[10] library version written to meta
  Returns {jobId, 1 when created or 0 when it existed}.
]]
local counter = rcall("INCR", Q.id)
local jobId = ARGV[2]
if jobId == "" then
  jobId = tostring(counter)
elseif rcall("EXISTS", BASE .. jobId) == 1 then
  emit("duplicated", "jobId", jobId)
  return {jobId, 0}
end

local name, timestamp = ARGV[3], tonumber(ARGV[6])
local delay, priority = tonumber(ARGV[7]), tonumber(ARGV[8])
rcall("HSET", BASE .. jobId, "name", name, "data", ARGV[4], "opts", ARGV[5], "timestamp", timestamp,
  "delay", delay, "priority", priority)
if rcall("HSETNX", Q.meta, "opts.maxLenEvents", 10000) == 1 then MAXLEN = 10000 end
rcall("HSET", Q.meta, "version", ARGV[10])
emit("added", "jobId", jobId, "name", name)

if delay > 0 then
  addToDelayed(jobId, timestamp + delay)
else
  enqueue(jobId, priority, ARGV[9] == "1")
  emit("waiting", "jobId", jobId)
end
return {jobId, 1}
