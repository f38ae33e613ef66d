--[[
  BullMQ's job metrics, kept as Node BullMQ keeps them (its collectMetrics), so that either side's
  getMetrics reads the same: <base>metrics:<kind> holds count (the running total), prevTS and
  prevCount (at the last minute rollover); <base>metrics:<kind>:data one count per minute, newest first,
  at most maxPoints of them, with a 0 for each minute without jobs.

  Another program may have written these keys with another type, or text where a number belongs: the
  job is then not counted, rather than the finish call that counts it failing (and with it every finish
  of the queue's workers, since each one counts).
]]

-- The metrics hash's count, prevTS and prevCount as numbers; nil when one cannot be read as BullMQ
-- writes it (count and prevCount integers, prevTS a time in ms), or a key has another type.
local function readMetrics(metaKey, dataKey)
  if typeProblem(metaKey, "hash") or typeProblem(dataKey, "list") then return nil end
  local f = rcall("HMGET", metaKey, "count", "prevTS", "prevCount")
  if (f[1] and not isInteger(f[1])) or (f[3] and not isInteger(f[3])) then return nil end
  local prevTS = f[2] and tonumber(f[2])
  -- tonumber also reads "nan" and "inf": no minute can be counted from those.
  if f[2] and not (prevTS and prevTS == prevTS and prevTS > -math.huge and prevTS < math.huge) then return nil end
  return tonumber(f[1]) or 0, prevTS, tonumber(f[3]) or 0
end

local function collectMetrics(q, kind, maxPoints, now)
  local metaKey = q.base .. "metrics:" .. kind
  local dataKey = metaKey .. ":data"
  local count, prevTS, prevCount = readMetrics(metaKey, dataKey)
  if not count then return end
  rcall("HINCRBY", metaKey, "count", 1)
  if not prevTS then
    rcall("HSET", metaKey, "prevTS", now, "prevCount", 0)
    return
  end
  local minutes = math.min(math.floor(now / 60000) - math.floor(prevTS / 60000), maxPoints)
  if minutes <= 0 then return end
  local points = {count - prevCount}
  for i = 2, minutes do points[i] = 0 end
  -- LPUSH takes a bounded number of arguments at once.
  for from = 1, #points, 7000 do
    rcall("LPUSH", dataKey, unpack(points, from, math.min(from + 6999, #points)))
  end
  rcall("LTRIM", dataKey, 0, maxPoints - 1)
  rcall("HSET", metaKey, "prevCount", count, "prevTS", now)
end
