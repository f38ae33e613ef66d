--[[
  The state of one job.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId
  Returns: one of completed, failed, delayed, prioritized, waiting-children, active, waiting, paused,
  or unknown (no such job in any state).
  Events: none.
]]
return jobState(Q, ARGV[2])
