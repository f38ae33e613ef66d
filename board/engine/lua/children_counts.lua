--[[
  How many children each flow parent on a page of jobs has, by outcome: sent beside job_rows.lua with the
  same range, so that a job list shows its parents' progress in the same round trip. Only ids with
  children come back.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] start   ARGV[3] end   ARGV[4] "1" for asc (oldest first)   ARGV[5..] states;
  the range applies to each state in turn, as in job_rows.lua
  Returns: {id, pending, done, failed (failed the parent), ignored (failed, ignored by the parent), ...}.
  Events: none.
]]
local start, stop, asc = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == "1"

local function count(command, key)
  local reply = redis.pcall(command, key)
  return type(reply) == "number" and reply or 0
end

local function listRange(key)
  if asc then
    local len = rcall("LLEN", key)
    local e = len - 1 - start
    if e < 0 then return {} end
    local s = len - 1 - (stop < 0 and len - 1 or stop)
    return rcall("LRANGE", key, math.max(s, 0), e)
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

local out = {}
for i = 5, #ARGV do
  local source = SOURCES[ARGV[i]]
  if source and rcall("TYPE", source[1])["ok"] == (source[2] and "list" or "zset") then
    local ids = source[2] and listRange(source[1]) or zsetRange(source[1])
    for _, id in ipairs(ids) do
      if isJobId(id) then
        local key = Q.base .. id
        local pending, done = count("SCARD", key .. ":dependencies"), count("HLEN", key .. ":processed")
        local failed, ignored = count("ZCARD", key .. ":unsuccessful"), count("HLEN", key .. ":failed")
        if pending + done + failed + ignored > 0 then
          out[#out + 1] = id
          out[#out + 1] = {pending, done, failed, ignored}
        end
      end
    end
  end
end
return out
