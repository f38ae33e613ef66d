--[[
  Job schedulers with their hashes, by a range of the "repeat" sorted set (in order of next run) or by id.
  A scheduler whose hash another program wrote as a key of another type comes back with the single field
  "board:keytype" holding that type, and one with no hash with no fields, so that a reader can say what
  is wrong with that one scheduler instead of failing the whole call.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base
  ARGV[2] "range": ARGV[3] start, ARGV[4] end, ARGV[5] "1" for ascending (soonest first)
          "ids":   ARGV[3..] scheduler ids (an id that is not in the sorted set is skipped)
  Returns: {id, next run score, {field, value, ...}, ...}.
  Events: none.
]]
--@include _scheduler
local repeats = repeatKey(Q)
local out = {}

local function row(schedulerId, score)
  local key = schedulerKey(Q, schedulerId)
  local kind = jobKeyType(key)
  local fields = {}
  if kind == "hash" then
    fields = rcall("HGETALL", key)
  elseif kind ~= "none" then
    fields = {"board:keytype", kind}
  end
  out[#out + 1] = schedulerId
  out[#out + 1] = score
  out[#out + 1] = fields
end

if ARGV[2] == "range" then
  local command = ARGV[5] == "1" and "ZRANGE" or "ZREVRANGE"
  local members = rcall(command, repeats, tonumber(ARGV[3]), tonumber(ARGV[4]), "WITHSCORES")
  for i = 1, #members, 2 do row(members[i], members[i + 1]) end
else
  for i = 3, #ARGV do
    local score = rcall("ZSCORE", repeats, ARGV[i])
    if score then row(ARGV[i], score) end
  end
end
return out
