--[[
  Hands back the jobs that a worker's fetch took when the worker never got the reply (the connection
  failed after the request was sent). They are active under lock tokens the worker never learnt, and
  would otherwise wait for their locks to run out and for a stalled check, with a stall counted.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] the worker's token prefix   ARGV[3..] pairs of first, last token serial
  Returns: how many jobs were handed back. Their attempt never started: attemptsStarted goes back down.
  Events: waiting (prev active), for each job handed back.
]]
--@include _release
local prefix = ARGV[2] .. ":"
local ranges = {}
for i = 3, #ARGV, 2 do
  ranges[#ranges + 1] = {tonumber(ARGV[i]), tonumber(ARGV[i + 1])}
end

local function lost(token)
  if type(token) ~= "string" or string.sub(token, 1, #prefix) ~= prefix then return false end
  local serial = tonumber(string.sub(token, #prefix + 1))
  if not serial then return false end
  for _, range in ipairs(ranges) do
    if serial >= range[1] and serial <= range[2] then return true end
  end
  return false
end

local released = 0
for _, jobId in ipairs(rcall("LRANGE", Q.active, 0, -1)) do
  -- pcall: another program may have left a key of another type where a lock belongs.
  if lost(redis.pcall("GET", Q.base .. jobId .. ":lock")) and handBack(Q, jobId) == 1 then
    bump(Q.base .. jobId, "ats", -1)
    released = released + 1
  end
end
return released
