--[[
  Empties the jobs that have not started, a bounded batch per call: wait, prioritized and, if asked,
  delayed. Active, completed and failed jobs stay.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] "1" to include delayed   ARGV[3] batch size
  Returns: the number of such jobs left (0 = done).
  Events: waiting (prev waiting-children) on a parent's queue when a removed job was the last child the
  parent waited for (a parent in this queue is removed with it instead, as BullMQ's drain does).
]]
local batch = tonumber(ARGV[3])
local sources = {Q.wait, Q.paused, Q.prioritized}
if ARGV[2] == "1" then sources[#sources + 1] = Q.delayed end
for _, key in ipairs(sources) do
  if batch <= 0 then break end
  local ids
  if key == Q.wait or key == Q.paused then
    ids = rcall("LRANGE", key, -batch, -1)
    if #ids > 0 then rcall("LTRIM", key, 0, -#ids - 1) end
  else
    ids = rcall("ZRANGE", key, 0, batch - 1)
    if #ids > 0 then rcall("ZREMRANGEBYRANK", key, 0, #ids - 1) end
  end
  for _, jobId in ipairs(ids) do dropJob(Q, jobId, true) end
  batch = batch - #ids
end
local left = rcall("LLEN", Q.wait) + rcall("LLEN", Q.paused) + rcall("ZCARD", Q.prioritized)
if ARGV[2] == "1" then left = left + rcall("ZCARD", Q.delayed) end
if left == 0 then
  rcall("DEL", Q.pc)
  if ARGV[2] == "1" then rcall("DEL", Q.marker) else rcall("ZREM", Q.marker, "0") end
end
return left
