--[[
  BullMQ's job metrics, kept as Node BullMQ keeps them (its collectMetrics), so that either side's
  getMetrics reads the same: <base>metrics:<kind> holds count (the running total), prevTS and
  prevCount (at the last minute rollover); <base>metrics:<kind>:data one count per minute, newest first,
  at most maxPoints of them, with a 0 for each minute without jobs.
]]

local function collectMetrics(q, kind, maxPoints, now)
  local metaKey = q.base .. "metrics:" .. kind
  local dataKey = metaKey .. ":data"
  local count = rcall("HINCRBY", metaKey, "count", 1) - 1
  local prevTS = rcall("HGET", metaKey, "prevTS")
  if not prevTS then
    rcall("HSET", metaKey, "prevTS", now, "prevCount", 0)
    return
  end
  local minutes = math.min(math.floor(now / 60000) - math.floor(tonumber(prevTS) / 60000), maxPoints)
  if minutes <= 0 then return end
  local delta = count - (tonumber(rcall("HGET", metaKey, "prevCount")) or 0)
  local points = {delta}
  for i = 2, minutes do points[i] = 0 end
  -- LPUSH takes a bounded number of arguments at once.
  for from = 1, #points, 7000 do
    rcall("LPUSH", dataKey, unpack(points, from, math.min(from + 6999, #points)))
  end
  rcall("LTRIM", dataKey, 0, maxPoints - 1)
  rcall("HSET", metaKey, "prevCount", count, "prevTS", now)
end
