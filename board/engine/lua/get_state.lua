--[[
  The state of one job.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base   ARGV[2] jobId
  Returns one of completed, failed, delayed, prioritized, waiting-children, active, waiting, paused,
  or unknown (no such job in any state).
]]
local jobId = ARGV[2]
if rcall("ZSCORE", Q.completed, jobId) then return "completed" end
if rcall("ZSCORE", Q.failed, jobId) then return "failed" end
if rcall("ZSCORE", Q.delayed, jobId) then return "delayed" end
if rcall("ZSCORE", Q.prioritized, jobId) then return "prioritized" end
if rcall("ZSCORE", Q.waitingChildren, jobId) then return "waiting-children" end
if rcall("LPOS", Q.active, jobId) then return "active" end
if rcall("LPOS", Q.wait, jobId) then return "waiting" end
if rcall("LPOS", Q.paused, jobId) then return "paused" end
return "unknown"
