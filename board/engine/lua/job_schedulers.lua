--[[
  Job schedulers with their hashes, by a range of the "repeat" sorted set (in order of next run) or by id.
  Only the fields a scheduler has are read (another program may have put any number of others in the
  hash), and none larger than it can be: the template's data and options up to MAX_LONG bytes each, any
  other field up to MAX_SHORT. A field too large comes back without its value, as the field "F.size"
  holding its size in bytes, so that the reader can say so instead of every page reading it whole.
  A scheduler whose hash another program wrote as a key of another type comes back with the single field
  "board:keytype" holding that type ("hash" for a hash that holds none of the fields), and one with no
  hash with no fields, so that a reader can say what is wrong with that one scheduler instead of failing
  the whole call.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base
  ARGV[2] "range": ARGV[3] start, ARGV[4] end, ARGV[5] "1" for ascending (soonest first)
          "ids":   ARGV[3..] scheduler ids (an id that is not in the sorted set is skipped)
  Returns: {id, next run score, {field, value, ...}, ...}.
  Events: none.
]]
--@include _scheduler
local FIELDS = {"name", "data", "opts", "pattern", "every", "tz", "offset", "startDate", "endDate", "limit",
  "ic"}
-- The most read of one field, in bytes: 1 MB of template data or options is far more than a page shows,
-- and BullMQ writes the other fields short (a cron pattern has at most 1,024 characters).
local MAX_LONG = 1048576
local MAX_SHORT = 4096
local LONG = {data = true, opts = true}
local repeats = repeatKey(Q)
local out = {}

local function hashFields(key)
  local wanted, fields = {}, {}
  for _, name in ipairs(FIELDS) do
    local size = rcall("HSTRLEN", key, name)
    if size > (LONG[name] and MAX_LONG or MAX_SHORT) then
      fields[#fields + 1] = name .. ".size"
      fields[#fields + 1] = tostring(size)
    else
      wanted[#wanted + 1] = name
    end
  end
  local values = rcall("HMGET", key, unpack(wanted))
  for i, name in ipairs(wanted) do
    if values[i] then
      fields[#fields + 1] = name
      fields[#fields + 1] = values[i]
    end
  end
  if #fields == 0 then return {"board:keytype", "hash"} end
  return fields
end

local function row(schedulerId, score)
  local key = schedulerKey(Q, schedulerId)
  local kind = jobKeyType(key)
  local fields = {}
  if kind == "hash" then
    fields = hashFields(key)
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
