--[[
  Hands a stopping worker's unfinished jobs back to the queue, so that nothing stays locked.
  They go to the tail of wait (next to run); the attempt does not count.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base   ARGV[2..] pairs of jobId, token
  Returns how many jobs were handed back.
]]
local released = 0
for i = 2, #ARGV, 2 do
  local jobId, token = ARGV[i], ARGV[i + 1]
  local lockKey = BASE .. jobId .. ":lock"
  if rcall("GET", lockKey) == token and rcall("LREM", Q.active, 1, jobId) > 0 then
    rcall("DEL", lockKey)
    rcall("SREM", Q.stalled, jobId)
    local priority = jobPriority(BASE .. jobId)
    if priority > 0 then
      enqueue(jobId, priority, false)
    else
      rcall("RPUSH", Q.wait, jobId)
      addBaseMarker()
    end
    emit("waiting", "jobId", jobId, "prev", "active")
    released = released + 1
  end
end
return released
