--[[
  One bounded step of a job search: looks at up to a chunk of one state's jobs, from a position, for a
  text in their id, name, data or failed reason (case-insensitive), and says where to go on. Never
  more than a chunk of jobs nor, roughly, a byte budget of their fields per call, so that Redis answers
  other clients between two steps; a field larger than the per-field bound is not read at all.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base   ARGV[2] state key name (wait, active, paused, delayed, prioritized,
          waiting-children, completed, failed)   ARGV[3] position (0 = the first job, in the board's
          order for that state: lists and finished sets newest first, delayed and prioritized in run
          order)   ARGV[4] jobs to look at   ARGV[5] byte budget   ARGV[6] per-field bound (bytes)
          ARGV[7] matches wanted (the step stops at that many)   ARGV[8] the text, lowercased
          ARGV[9..] the fields to search: id, name, data, failedReason
  Returns: {{matching ids}, next position (-1 when the state is done), jobs looked at, fields skipped
          for their size}.
  Events: none.
]]
local stateName, position, chunk = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local budget, fieldBound, enough = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local needle = ARGV[8]
local wanted = {}
for i = 9, #ARGV do wanted[ARGV[i]] = true end

local STATE_KEYS = {wait = Q.wait, active = Q.active, paused = Q.paused, delayed = Q.delayed,
  prioritized = Q.prioritized, ["waiting-children"] = Q.waitingChildren, completed = Q.completed,
  failed = Q.failed}
local key = STATE_KEYS[stateName]
if not key then return {{}, -1, 0, 0} end
local kind = rcall("TYPE", key)["ok"]
local ids
if kind == "list" then
  ids = rcall("LRANGE", key, position, position + chunk - 1)
elseif kind == "zset" then
  local ascending = stateName == "delayed" or stateName == "prioritized"
  ids = rcall(ascending and "ZRANGE" or "ZREVRANGE", key, position, position + chunk - 1)
else
  return {{}, -1, 0, 0}
end

local function holds(value)
  return value and string.find(string.lower(value), needle, 1, true) ~= nil
end

local matches, looked, skipped, spent = {}, 0, 0, 0
for _, jobId in ipairs(ids) do
  if spent >= budget or #matches >= enough then break end
  looked = looked + 1
  local jobKey = Q.base .. jobId
  local found = wanted["id"] and holds(jobId)
  if not found and jobKeyType(jobKey) == "hash" then
    for _, name in ipairs({"name", "data", "failedReason"}) do
      if wanted[name] then
        local size = rcall("HSTRLEN", jobKey, name)
        if size > fieldBound then
          skipped = skipped + 1
        elseif size > 0 then
          spent = spent + size
          if holds(rcall("HGET", jobKey, name)) then
            found = true
            break
          end
        end
      end
    end
  end
  if found then matches[#matches + 1] = jobId end
end

local nextPosition = position + looked
if looked == #ids and #ids < chunk then nextPosition = -1 end
return {matches, nextPosition, looked, skipped}
