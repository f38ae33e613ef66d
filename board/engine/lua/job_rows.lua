--[[
  Job hashes, by state ranges or by ids. For display, large fields can be cut inside Redis, so a page
  never ships a full payload: each cut field F comes back with a companion field "F.size" holding its
  full size in bytes; fields not cut have no companion.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] bytes to keep of data, returnvalue, opts, progress, failedReason,
                     stacktrace (0 = keep all). When it is not 0, no field larger than MAX_READ
                     (1 MB), of any name, is even read: reading it would cost Redis time that every
                     other client waits for. It comes back empty, with its "F.size".
  ARGV[3] "range":  ARGV[4] start, ARGV[5] end, ARGV[6] "1" for asc (oldest first), ARGV[7..] states;
                    the range applies to each state in turn
          "ids":    ARGV[4..] job ids (their state is looked up)
          "fields": ARGV[4..] job ids, state not looked up (returned as "")
  Returns: {id, state, {field, value, ...}, ...}; a delayed job's fields end with "board:runAt", the
  time (ms) it is due, from the delayed set's score. Ids without a key are skipped; so are ids whose key is
  not a hash in "ids" and "fields" modes (not found). In "range" mode such an id, listed in a state by
  another program, comes back with the single field "board:keytype" holding the key's type, so that
  the page shows it as a malformed job instead of failing.
  Events: none.
]]
local keep = tonumber(ARGV[2])
local MAX_READ = 1048576
local LARGE = {data = true, returnvalue = true, opts = true, progress = true, failedReason = true,
  stacktrace = true}
local out = {}

-- state nil: looked up here, once the key is known to be a job's.
local function row(id, state, listed)
  local key = Q.base .. id
  local kind = jobKeyType(key)
  if kind ~= "hash" then
    if listed and kind ~= "none" then
      out[#out + 1] = id
      out[#out + 1] = state
      out[#out + 1] = {"board:keytype", kind}
    end
    return
  end
  local hash
  local huge = nil
  -- One cheap look at the whole hash first: below MAX_READ in all, no field can be too large to read.
  local names = nil
  if keep > 0 and rcall("MEMORY", "USAGE", key, "SAMPLES", "0") > MAX_READ then
    -- Every field, not only the payloads: another program may have put megabytes anywhere (a name).
    names = rcall("HKEYS", key)
    for _, name in ipairs(names) do
      local size = rcall("HSTRLEN", key, name)
      if size > MAX_READ then
        huge = huge or {}
        huge[name] = size
      end
    end
  end
  if huge then
    hash = {}
    local wanted = {}
    for _, name in ipairs(names) do
      if not huge[name] then wanted[#wanted + 1] = name end
    end
    if #wanted > 0 then
      local values = rcall("HMGET", key, unpack(wanted))
      for i, name in ipairs(wanted) do
        hash[#hash + 1] = name
        hash[#hash + 1] = values[i]
      end
    end
    for name, size in pairs(huge) do
      hash[#hash + 1] = name
      hash[#hash + 1] = ""
      hash[#hash + 1] = name .. ".size"
      hash[#hash + 1] = tostring(size)
    end
  else
    hash = rcall("HGETALL", key)
  end
  if #hash == 0 then return end
  if keep > 0 then
    local extra = {}
    for i = 1, #hash, 2 do
      local value = hash[i + 1]
      if LARGE[hash[i]] and #value > keep then
        hash[i + 1] = string.sub(value, 1, keep)
        extra[#extra + 1] = hash[i] .. ".size"
        extra[#extra + 1] = tostring(#value)
      end
    end
    for _, v in ipairs(extra) do hash[#hash + 1] = v end
  end
  state = state or jobState(Q, id)
  if state == "delayed" then
    -- When it runs is the delayed set's score, not timestamp + delay: a changed delay counts from the
    -- time of the change.
    local score = rcall("ZSCORE", Q.delayed, id)
    if score then
      hash[#hash + 1] = "board:runAt"
      hash[#hash + 1] = tostring(math.floor(tonumber(score) / 0x1000))
    end
  end
  out[#out + 1] = id
  out[#out + 1] = state
  out[#out + 1] = hash
end

if ARGV[3] == "ids" then
  for i = 4, #ARGV do row(ARGV[i], nil, false) end
  return out
end
if ARGV[3] == "fields" then
  for i = 4, #ARGV do row(ARGV[i], "", false) end
  return out
end

local start, stop, asc = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == "1"

local function listRange(key)
  if asc then
    local len = rcall("LLEN", key)
    local e = len - 1 - start
    if e < 0 then return {} end
    local s = len - 1 - (stop < 0 and len - 1 or stop)
    local ids = rcall("LRANGE", key, math.max(s, 0), e)
    local reversed = {}
    for i = #ids, 1, -1 do reversed[#reversed + 1] = ids[i] end
    return reversed
  end
  return rcall("LRANGE", key, start, stop)
end

local function zsetRange(key)
  if asc then return rcall("ZRANGE", key, start, stop) end
  return rcall("ZREVRANGE", key, start, stop)
end

local SOURCES = {wait = {Q.wait, true}, waiting = {Q.wait, true}, paused = {Q.paused, true},
  active = {Q.active, true}, delayed = {Q.delayed, false}, prioritized = {Q.prioritized, false},
  ["waiting-children"] = {Q.waitingChildren, false}, completed = {Q.completed, false},
  failed = {Q.failed, false}}

for i = 7, #ARGV do
  local state = ARGV[i]
  local source = SOURCES[state]
  -- A state key of the wrong type (another program's doing) lists nothing, rather than failing the page.
  if source and rcall("TYPE", source[1])["ok"] == (source[2] and "list" or "zset") then
    local ids = source[2] and listRange(source[1]) or zsetRange(source[1])
    for _, id in ipairs(ids) do row(id, state, true) end
  end
end
return out
