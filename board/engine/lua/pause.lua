--[[
  Pauses or resumes the queue. Paused jobs stay in wait; only the meta flag and the marker change.
  A legacy `paused` list (from older BullMQ) is moved back into wait.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base   ARGV[2] "pause" or "resume"
  Returns 1 when the state changed, 0 when it already was so.
]]
while rcall("RPOPLPUSH", Q.paused, Q.wait) do end
if ARGV[2] == "pause" then
  if isPaused() then return 0 end
  rcall("HSET", Q.meta, "paused", 1)
  rcall("DEL", Q.marker)
  emit("paused")
else
  if not isPaused() then return 0 end
  rcall("HDEL", Q.meta, "paused")
  if rcall("LLEN", Q.wait) > 0 or rcall("ZCARD", Q.prioritized) > 0 then addBaseMarker() end
  addDelayMarker()
  emit("resumed")
end
return 1
