--[[
  One page of jobs from one or more states, with each job's hash, in one call.
  The range applies to each state; ids whose hash is gone are skipped.
  Order, as BullMQ's getJobs: asc = 0 lists newest first (lists from the head, sorted sets by highest
  score); asc = 1 reverses each, which lists prioritized jobs in the order they will run.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base   ARGV[2] start   ARGV[3] end (inclusive, -1 = last)   ARGV[4] "1" for asc
  ARGV[5..] state names
  Returns {id, {hash fields...}, state, id, {...}, state, ...}.
]]
local start, stop, asc = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == "1"
local out = {}

local function listRange(key)
  if asc then
    local len = rcall("LLEN", key)
    local s = len - 1 - (stop < 0 and len - 1 or stop)
    local e = len - 1 - start
    if e < 0 then return {} end
    local ids = rcall("LRANGE", key, math.max(s, 0), e)
    local reversed = {}
    for i = #ids, 1, -1 do reversed[#reversed + 1] = ids[i] end
    return reversed
  end
  return rcall("LRANGE", key, start, stop)
end

local function zsetRange(key, lowFirst)
  if lowFirst then return rcall("ZRANGE", key, start, stop) end
  return rcall("ZREVRANGE", key, start, stop)
end

for i = 5, #ARGV do
  local state = ARGV[i]
  local ids = {}
  if state == "wait" or state == "waiting" then
    ids = listRange(Q.wait)
  elseif state == "paused" then
    ids = listRange(Q.paused)
  elseif state == "active" then
    ids = listRange(Q.active)
  elseif state == "prioritized" then
    ids = zsetRange(Q.prioritized, asc)
  elseif state == "delayed" then
    ids = zsetRange(Q.delayed, asc)
  elseif state == "waiting-children" then
    ids = zsetRange(Q.waitingChildren, asc)
  elseif state == "completed" then
    ids = zsetRange(Q.completed, asc)
  elseif state == "failed" then
    ids = zsetRange(Q.failed, asc)
  end
  for _, id in ipairs(ids) do
    local hash = rcall("HGETALL", BASE .. id)
    if #hash > 0 then
      out[#out + 1] = id
      out[#out + 1] = hash
      out[#out + 1] = state
    end
  end
end
return out
