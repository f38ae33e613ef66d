--[[
  Hands a stopping worker's unfinished jobs back to the queue, so that nothing stays locked.
  They go to the tail of wait (next to run); the attempt does not count.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2..] pairs of jobId, token
  Returns: how many jobs were handed back.
  Events: waiting (prev active), for each job handed back.
]]
--@include _release
local released = 0
for i = 2, #ARGV, 2 do
  local jobId, token = ARGV[i], ARGV[i + 1]
  if rcall("GET", Q.base .. jobId .. ":lock") == token then
    released = released + handBack(Q, jobId)
  end
end
return released
