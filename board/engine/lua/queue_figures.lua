--[[
  What a metrics scrape needs of one queue beyond its counts (get_counts.lua): the running totals of
  completed and failed jobs that workers keep with metrics on (BullMQ's metrics:<kind> "count"), and
  when the oldest job waiting to run was added (the tail of wait, or the first of prioritized when it
  is older), so that a scrape can say how long it has waited.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base
  Returns: {completed total, failed total, oldest waiting job's timestamp in ms (0 when none waits)}.
  Events: none.
]]
local function total(kind)
  local ok, count = pcall(rcall, "HGET", Q.base .. "metrics:" .. kind, "count")
  return ok and tonumber(count) or 0
end

-- A key another program wrote with another type counts as no job rather than failing the scrape.
local function addedAt(jobId)
  if not jobId then return 0 end
  local ok, timestamp = pcall(rcall, "HGET", Q.base .. jobId, "timestamp")
  return ok and tonumber(timestamp) or 0
end

local oldest = 0
local okWait, tail = pcall(rcall, "LINDEX", Q.wait, -1)
if okWait then oldest = addedAt(tail or nil) end
local okPrioritized, first = pcall(rcall, "ZRANGE", Q.prioritized, 0, 0)
if okPrioritized and first[1] then
  local at = addedAt(first[1])
  if at > 0 and (oldest == 0 or at < oldest) then oldest = at end
end
return {total("completed"), total("failed"), oldest}
