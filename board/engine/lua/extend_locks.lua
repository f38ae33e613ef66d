--[[
  Renews the locks a worker holds, and clears those jobs from the stalled set.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] lock duration (ms)   ARGV[3..] pairs of jobId, token
  Returns: one value per pair: 1 renewed, 0 the lock is gone or held by another token.
  Events: none.
]]
local lockMs = ARGV[2]
local out = {}
for i = 3, #ARGV, 2 do
  local jobId, token = ARGV[i], ARGV[i + 1]
  local lockKey = Q.base .. jobId .. ":lock"
  if rcall("GET", lockKey) == token then
    -- PEXPIRE, not SET: Redis refuses commands that may use memory when it is out of it, and a lock
    -- must outlive a full memory.
    rcall("PEXPIRE", lockKey, lockMs)
    rcall("SREM", Q.stalled, jobId)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
