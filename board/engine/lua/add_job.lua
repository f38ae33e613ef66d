--[[
  Adds one job. A custom job id that already exists makes the add a no-op that returns that id. An add
  with a deduplication id that another job holds is dropped and returns that job's id (see _dedup.lua).

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base     ARGV[2] custom job id or ""   ARGV[3] name        ARGV[4] data JSON
  ARGV[5] opts JSON    ARGV[6] timestamp (ms)        ARGV[7] delay (ms)  ARGV[8] priority
  ARGV[9] "1" for lifo ARGV[10] library version written to meta
  ARGV[11] deduplication id or "" (its options are opts.de)
  Returns: {jobId, 1 when created or 0 when it existed or the add was deduplicated}.
  Events: added, then delayed (with a delay) or waiting; duplicated when the id existed; deduplicated
  (and removed or delayed, see _dedup.lua) when the add was deduplicated.
]]
--@include _dedup
-- As BullMQ: every add moves the counter, even one that creates nothing.
local counter = rcall("INCR", Q.id)
initMaxEvents(Q)
local jobId = ARGV[2]
if jobId == "" then
  jobId = tostring(counter)
elseif rcall("EXISTS", Q.base .. jobId) == 1 then
  emit(Q, "duplicated", "jobId", jobId)
  return {jobId, 0}
end

local name, timestamp = ARGV[3], tonumber(ARGV[6])
local delay, priority = tonumber(ARGV[7]), tonumber(ARGV[8])
local extra = {}
if ARGV[11] ~= "" then
  local de = cjson.decode(ARGV[5]).de
  local existing = deduplicate(Q, de, jobId, name, ARGV[4], ARGV[5], timestamp, delay)
  if existing then return {existing, 0} end
  extra = {"deid", ARGV[11]}
end
storeJob(Q, jobId, name, ARGV[4], ARGV[5], timestamp, delay, priority, extra)
rcall("HSET", Q.meta, "version", ARGV[10])
placeNewJob(Q, jobId, timestamp, delay, priority, ARGV[9] == "1")
return {jobId, 1}
