--[[
  Pauses the queue. Its jobs stay in wait; the meta flag is set and the marker deleted, so that workers
  take no job. A legacy `paused` list (from older BullMQ) is moved back into wait.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base
  Returns: 1 when the queue was paused by this call, 0 when it already was.
  Events: paused.
]]
while rcall("RPOPLPUSH", Q.paused, Q.wait) do end
if isPaused(Q) then return 0 end
rcall("HSET", Q.meta, "paused", 1)
rcall("DEL", Q.marker)
emit(Q, "paused")
return 1
