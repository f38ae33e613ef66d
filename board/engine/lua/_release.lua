--[[
  Handing a job back from active to the queue, shared by release_jobs.lua and release_lost.lua.

  handBack(q, jobId): the caller has checked that it holds the job's lock. The job leaves active for the
  tail of wait (it runs next), or for prioritized when it has a priority. Returns 1, or 0 when the job
  was not in active.
  Events: waiting (prev active).
]]
local function handBack(q, jobId)
  if rcall("LREM", q.active, 1, jobId) == 0 then return 0 end
  rcall("DEL", q.base .. jobId .. ":lock")
  rcall("SREM", q.stalled, jobId)
  local priority = jobPriority(q.base .. jobId)
  if priority > 0 then
    enqueue(q, jobId, priority, false)
  else
    rcall("RPUSH", q.wait, jobId)
    addBaseMarker(q)
  end
  emit(q, "waiting", "jobId", jobId, "prev", "active")
  return 1
end
