--[[
  Counts jobs per state, plus the queue's settings, for one queue in one call.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2..] state names (wait, waiting, paused, active, delayed, prioritized,
                     waiting-children, completed, failed)
  Returns: {counts in ARGV order, paused flag, global concurrency or "", rate limit max or "",
  rate limit duration or "", limiter TTL ms (or -2 when no window is open), meta version or ""}.
  As in BullMQ 6, a paused queue keeps its jobs in wait and counts them there; "paused" counts only
  a legacy `paused` list.
  Events: none.
]]
local paused = isPaused(Q)
local counts = {}
for i = 2, #ARGV do
  local state = ARGV[i]
  local n = 0
  if state == "wait" or state == "waiting" then
    n = rcall("LLEN", Q.wait)
  elseif state == "paused" then
    n = rcall("LLEN", Q.paused)
  elseif state == "active" then
    n = rcall("LLEN", Q.active)
  elseif state == "delayed" then
    n = rcall("ZCARD", Q.delayed)
  elseif state == "prioritized" then
    n = rcall("ZCARD", Q.prioritized)
  elseif state == "waiting-children" then
    n = rcall("ZCARD", Q.waitingChildren)
  elseif state == "completed" then
    n = rcall("ZCARD", Q.completed)
  elseif state == "failed" then
    n = rcall("ZCARD", Q.failed)
  end
  counts[#counts + 1] = n
end
local meta = rcall("HMGET", Q.meta, "concurrency", "max", "duration", "version")
return {counts, paused and 1 or 0, meta[1] or "", meta[2] or "", meta[3] or "", rcall("PTTL", Q.limiter),
  meta[4] or ""}
