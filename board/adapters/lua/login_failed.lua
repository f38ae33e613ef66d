--[[
  Counts one failed password of a user name or a client address, and locks it out once it has failed
  too often within the window: the login throttle that every process of the board shares.

  The key is a sorted set. While counting, it holds one member per failure within the window, scored
  with the failure's time (ms, Redis's clock, so that processes on several hosts agree), and
  expires a window after the last failure. Once locked, it holds the single member "locked" (score 0)
  and expires when the lockout ends: its TTL is the time left, and its count starts again after it.
  A failure while locked changes nothing. At most limit - 1 failures are ever kept.

  KEYS[1] the name's or address's key (board:<prefix>:throttle:<kind>:<value>)
  ARGV[1] failures that lock it out (>= 1)   ARGV[2] window (ms)   ARGV[3] lockout (ms)
  Returns: the lockout left in ms; 0 when not locked out.
  Events: none.
]]
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local lockout = tonumber(ARGV[3])

if redis.call("ZSCORE", key, "locked") then
  return redis.call("PTTL", key)
end

local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", key, "-inf", now - window)
local count = redis.call("ZCARD", key)
if count + 1 >= limit then
  redis.call("DEL", key)
  redis.call("ZADD", key, 0, "locked")
  redis.call("PEXPIRE", key, lockout)
  return lockout
end
-- The microseconds and the count keep two failures of the same millisecond apart.
redis.call("ZADD", key, now, time[1] .. "." .. time[2] .. ":" .. count)
redis.call("PEXPIRE", key, window)
return 0
