--[[
  Resumes the queue: the meta flag goes and the markers come back for the jobs that are runnable or
  delayed. A legacy `paused` list (from older BullMQ) is moved back into wait.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base
  Returns: 1 when the queue was resumed by this call, 0 when it was not paused.
  Events: resumed.
]]
while rcall("RPOPLPUSH", Q.paused, Q.wait) do end
if not isPaused(Q) then return 0 end
rcall("HDEL", Q.meta, "paused")
if rcall("LLEN", Q.wait) > 0 or rcall("ZCARD", Q.prioritized) > 0 then addBaseMarker(Q) end
addDelayMarker(Q)
emit(Q, "resumed")
return 1
