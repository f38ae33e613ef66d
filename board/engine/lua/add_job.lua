--[[
  Adds one job. A custom job id that already exists makes the add a no-op that returns that id.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base     ARGV[2] custom job id or ""   ARGV[3] name        ARGV[4] data JSON
  ARGV[5] opts JSON    ARGV[6] timestamp (ms)        ARGV[7] delay (ms)  ARGV[8] priority
  ARGV[9] "1" for lifo ARGV[10] library version written to meta
  Returns: {jobId, 1 when created or 0 when it existed}.
  Events: added, then delayed (with a delay) or waiting; duplicated when the id existed.
]]
local counter = rcall("INCR", Q.id)
local jobId = ARGV[2]
if jobId == "" then
  jobId = tostring(counter)
elseif rcall("EXISTS", Q.base .. jobId) == 1 then
  emit(Q, "duplicated", "jobId", jobId)
  return {jobId, 0}
end

local name, timestamp = ARGV[3], tonumber(ARGV[6])
local delay, priority = tonumber(ARGV[7]), tonumber(ARGV[8])
rcall("HSET", Q.base .. jobId, "name", name, "data", ARGV[4], "opts", ARGV[5], "timestamp", timestamp,
  "delay", delay, "priority", priority)
initMaxEvents(Q)
rcall("HSET", Q.meta, "version", ARGV[10])
emit(Q, "added", "jobId", jobId, "name", name)

if delay > 0 then
  addToDelayed(Q, jobId, timestamp + delay)
else
  enqueue(Q, jobId, priority, ARGV[9] == "1")
  emit(Q, "waiting", "jobId", jobId)
end
return {jobId, 1}
