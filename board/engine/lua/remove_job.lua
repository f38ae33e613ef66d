--[[
  Removes one job from whatever state it is in, with its logs and other sub-keys and, unless asked not
  to, its children in whatever queue (pending, completed or failed, and theirs in turn), as BullMQ's
  removeJob. The current next run of a job scheduler is refused: the scheduler is what to remove. A job
  whose lock is held (a worker is running it), or with its children one of whose pending children is, is
  left alone. A key of another type that another program left under an id listed in one of the queue's
  states is removed the same way, so that an operator can clear it; one that is listed nowhere is not
  this queue's to remove (0). A removed job that was the last child its parent waited for releases the
  parent to the tail of wait (BullMQ's removeParentDependencyKey).

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] "1" to remove its children too
  Returns: how many jobs were removed, the job and its children (0: no such job), JOB_LOCKED (a worker
  holds its lock, or a pending child's), JOB_BELONGS_TO_JOB_SCHEDULER (the scheduler's next run).
  Events: removed (with the state it left as prev) for each job removed, on its own queue; waiting (prev
  waiting-children) on the parent's queue when the job was the last child its parent waited for.
]]
local jobId, withChildren = ARGV[2], ARGV[3] == "1"
local jobKey = Q.base .. jobId

-- BullMQ's isJobSchedulerJob: the job's scheduler (rjk) is scored with this very run's time.
local function isSchedulerRun(q, id, key)
  local schedulerId = jobField(key, "rjk")
  if not schedulerId then return false end
  local millis = redis.pcall("ZSCORE", q.base .. "repeat", schedulerId)
  return type(millis) == "string" and id == "repeat:" .. schedulerId .. ":" .. millis
end

-- The members of a job's child set or hash keys; none when the key is missing or of another type.
local function members(...)
  local found = redis.pcall(...)
  if type(found) ~= "table" or found.err then return {} end
  return found
end

local seen = {}

local function locked(base, id)
  local key = base .. id
  if seen[key] then return false end
  seen[key] = true
  if rcall("EXISTS", key .. ":lock") == 1 then return true end
  if not withChildren then return false end
  for _, childKey in ipairs(members("SMEMBERS", key .. ":dependencies")) do
    local childBase, childId = splitJobKey(childKey)
    if childBase and locked(childBase, childId) then return true end
  end
  return false
end

local function leaveStates(q, id)
  if rcall("LREM", q.wait, 0, id) > 0 then return "wait" end
  if rcall("LREM", q.active, 0, id) > 0 then return "active" end
  if rcall("LREM", q.paused, 0, id) > 0 then return "paused" end
  for _, pair in ipairs({{q.delayed, "delayed"}, {q.prioritized, "prioritized"}, {q.completed, "completed"},
      {q.failed, "failed"}, {q.waitingChildren, "waiting-children"}}) do
    if rcall("ZREM", pair[1], id) > 0 then return pair[2] end
  end
  return "unknown"
end

local function childrenOf(key)
  local children = members("SMEMBERS", key .. ":dependencies")
  for _, found in ipairs({members("HKEYS", key .. ":processed"), members("HKEYS", key .. ":failed"),
      members("ZRANGE", key .. ":unsuccessful", 0, -1)}) do
    for _, childKey in ipairs(found) do children[#children + 1] = childKey end
  end
  return children
end

local removed = 0

-- Children go before their parent, whose keys still list them; a child removed with its parent does
-- not release it first, as the parent is going too.
local function removeTree(q, id, top)
  local key = q.base .. id
  if seen[key] then return end
  seen[key] = true
  if top then removeParentDependency(key, nil, false, q) end
  if withChildren then
    for _, childKey in ipairs(childrenOf(key)) do
      local childBase, childId = splitJobKey(childKey)
      if childBase and isJobId(childId) then removeTree(queueKeys(childBase), childId, false) end
    end
  end
  local kind = jobKeyType(key)
  local prev = leaveStates(q, id)
  if kind ~= "hash" and prev == "unknown" then return end
  rcall("SREM", q.stalled, id)
  dropDedupKey(q, id)
  removeJobKeys(q, id)
  emit(q, "removed", "jobId", id, "prev", prev)
  removed = removed + 1
end

if isSchedulerRun(Q, jobId, jobKey) then return JOB_BELONGS_TO_JOB_SCHEDULER end
if locked(Q.base, jobId) then return JOB_LOCKED end
local kind = jobKeyType(jobKey)
if kind == "none" then return 0 end
if kind ~= "hash" and jobState(Q, jobId) == "unknown" then return 0 end
seen = {}
removeTree(Q, jobId, true)
return removed
