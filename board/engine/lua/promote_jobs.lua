--[[
  Promotes delayed jobs in bulk so that they run now, a bounded batch per call: those due soonest first.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] batch size
  Returns: {promoted in this call, delayed jobs left}.
  Events: waiting (prev delayed), for each job promoted.
]]
local ids = rcall("ZRANGE", Q.delayed, 0, tonumber(ARGV[2]) - 1)
promoteDelayed(Q, ids)
return {#ids, rcall("ZCARD", Q.delayed)}
