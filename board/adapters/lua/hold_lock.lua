--[[
  Takes a lock for an owner, or extends it when that owner already holds it: one process of many does
  a job (the alert rounds) at a time, and a process that dies lets another take over after the TTL.

  KEYS[1] the lock key
  ARGV[1] owner   ARGV[2] TTL (ms)
  Returns: 1 when the owner holds the lock now, 0 when another owner does.
  Events: none.
]]
local holder = redis.call("GET", KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", tonumber(ARGV[2]))
  return 1
end
return 0
