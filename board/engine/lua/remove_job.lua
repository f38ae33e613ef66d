--[[
  Removes one job from whatever state it is in, with its logs and other sub-keys.
  A job whose lock is held (a worker is running it) is left alone. A key of another type that another
  program left under an id listed in one of the queue's states is removed the same way, so that an
  operator can clear it; one that is listed nowhere is not this queue's to remove (0).

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId
  Returns: 1 removed, 0 no such job, JOB_LOCKED (a worker holds its lock).
  Events: removed (with the state it left as prev).
]]
local jobId = ARGV[2]
local jobKey = Q.base .. jobId
if rcall("EXISTS", jobKey .. ":lock") == 1 then return JOB_LOCKED end
local kind = jobKeyType(jobKey)
if kind == "none" then return 0 end

local prev = "unknown"
if rcall("LREM", Q.wait, 0, jobId) > 0 then prev = "wait"
elseif rcall("LREM", Q.active, 0, jobId) > 0 then prev = "active"
elseif rcall("LREM", Q.paused, 0, jobId) > 0 then prev = "paused"
else
  for _, pair in ipairs({{Q.delayed, "delayed"}, {Q.prioritized, "prioritized"},
      {Q.completed, "completed"}, {Q.failed, "failed"}, {Q.waitingChildren, "waiting-children"}}) do
    if rcall("ZREM", pair[1], jobId) > 0 then prev = pair[2] break end
  end
end
if kind ~= "hash" and prev == "unknown" then return 0 end
rcall("SREM", Q.stalled, jobId)
-- A removed child must not hold its parent back.
local parentKey = jobField(jobKey, "parentKey")
if parentKey then rcall("SREM", parentKey .. ":dependencies", jobKey) end
removeJobKeys(Q, jobId)
emit(Q, "removed", "jobId", jobId, "prev", prev)
return 1
