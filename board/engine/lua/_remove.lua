--[[
  Helpers of the scripts that remove jobs (remove_job, drain, clean), included with --@include _remove.
]]

-- How far below the job it removes remove_job.lua follows children. BullMQ sets no bound, but a chain
-- that another program wrote may be endless (a loop) or deeper than a call can walk; flows.py adds at
-- most MAX_FLOW_DEPTH (100) levels. A job at this depth is removed without its children.
local MAX_TREE_DEPTH = 1000

-- BullMQ's isJobSchedulerJob: the job is its scheduler's current next run, the one the "repeat" sorted
-- set scores with this run's time. Removing that run would leave the scheduler nothing to run again, so
-- drain and clean keep it and remove_job refuses it. O(1): only ids "repeat:<rjk>:<millis>" can match.
local function isSchedulerRun(q, jobId)
  if string.sub(jobId, 1, 7) ~= "repeat:" then return false end
  local schedulerId = jobField(q.base .. jobId, "rjk")
  if not schedulerId then return false end
  local millis = redis.pcall("ZSCORE", q.base .. "repeat", schedulerId)
  return type(millis) == "string" and jobId == "repeat:" .. schedulerId .. ":" .. millis
end

-- "<prefix>:" of a queue's base "<prefix>:<queue>:" (queue names hold no ':').
local function keyPrefix(q)
  return string.match(q.base, "^(.*:)[^:]+:$")
end

-- The queue keys and id of a child key read from a parent's child sets, when it names a job under
-- `prefix` ("<prefix>:"): "<prefix>:<queue>:<id>" with a queue name without ':' and an id isJobId
-- accepts. nil for any other member, which another program may have written to point anywhere: a key of
-- another application, or a queue-level key of this one; nil too for a queue in another hash slot of a
-- cluster (reachable in _lib.lua): such a child is left as it is.
local function childQueue(prefix, childKey)
  if string.sub(childKey, 1, #prefix) ~= prefix then return nil end
  local name, id = string.match(string.sub(childKey, #prefix + 1), "^([^:]+):(.+)$")
  if not name or not isJobId(id) or not reachable(prefix .. name .. ":") then return nil end
  return queueKeys(prefix .. name .. ":"), id
end
