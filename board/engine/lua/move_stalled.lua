--[[
  The stalled-job check, at most once per stalled interval across all workers of the queue.
  Jobs left in the stalled set by the previous check whose lock is gone have lost their worker: they
  go back to wait (tail, to run next), or, past the stalled limit, get a deferred failure that the next
  fetch applies. An id whose key is gone or is not a job hash just leaves active. Then every active job
  is marked as a suspect for the next check; live workers clear their own when they renew their locks.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] now (ms)   ARGV[3] max stalled count   ARGV[4] stalled interval (ms)
  Returns: {requeued ids, ids marked to fail}, or {} when another worker ran the check recently.
  Events: waiting (prev active) and stalled, for each job put back in wait.
]]
local now = tonumber(ARGV[2])
local maxStalled = tonumber(ARGV[3])
if rcall("SET", Q.stalledCheck, now, "PX", ARGV[4], "NX") == false then
  return {}
end

local requeued, doomed = {}, {}
local suspects = rcall("SMEMBERS", Q.stalled)
for _, jobId in ipairs(suspects) do
  local jobKey = Q.base .. jobId
  if rcall("EXISTS", jobKey .. ":lock") == 0 and rcall("LREM", Q.active, 1, jobId) > 0 then
    if jobKeyType(jobKey) == "hash" then
      -- A counter that is not a number is left for the fetch to fail the job with a reason.
      local stc = bump(jobKey, "stc", 1)
      if stc and stc > maxStalled then
        rcall("HSET", jobKey, "defa", "job stalled more than allowable limit")
        doomed[#doomed + 1] = jobId
      else
        requeued[#requeued + 1] = jobId
      end
      rcall("RPUSH", Q.wait, jobId)
      addBaseMarker(Q)
      emit(Q, "waiting", "jobId", jobId, "prev", "active")
      emit(Q, "stalled", "jobId", jobId)
    end
  end
end
rcall("DEL", Q.stalled)

local active = rcall("LRANGE", Q.active, 0, -1)
for i = 1, #active, 5000 do
  rcall("SADD", Q.stalled, unpack(active, i, math.min(i + 4999, #active)))
end
return {requeued, doomed}
