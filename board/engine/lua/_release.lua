--[[
  Handing a job back from active to the queue, shared by release_jobs.lua and release_lost.lua.

  handBack(jobId): the caller has checked that it holds the job's lock. The job leaves active for the
  tail of wait (it runs next), or for prioritized when it has a priority. Returns 1, or 0 when the job
  was not in active.
]]
local function handBack(jobId)
  if rcall("LREM", Q.active, 1, jobId) == 0 then return 0 end
  rcall("DEL", BASE .. jobId .. ":lock")
  rcall("SREM", Q.stalled, jobId)
  local priority = jobPriority(BASE .. jobId)
  if priority > 0 then
    enqueue(jobId, priority, false)
  else
    rcall("RPUSH", Q.wait, jobId)
    addBaseMarker()
  end
  emit("waiting", "jobId", jobId, "prev", "active")
  return 1
end
