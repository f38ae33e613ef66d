--[[
  Adds a flow: a tree of jobs across queues of one prefix, in one call. A parent waits in
  waiting-children until its children are done; each child's hash links to its parent (parentKey, and
  parent: {id, queueKey} with the child's failure flags) and its key is in the parent's :dependencies
  set, as BullMQ's FlowProducer writes them. Nothing is written when the call is refused. A job whose id
  exists already is kept as it is (duplicated) and linked to its parent in the flow: a completed one
  counts as done for it. A parent none of whose children is pending once the whole tree is in runs at
  once. Not safe to send again after a lost reply: a child that completed in between and was removed
  (removeOnComplete) would be created again, and run twice (flows.py does not resend it).

  KEYS: the keys of the first job's queue (see _queue.lua); the other queues' keys are built from their
  key bases.
  ARGV[1] key base of the first job's queue   ARGV[2] now (ms)   ARGV[3] library version written to meta
  ARGV[4] number of jobs N, parents before their children, followed by N groups of 12 values:
          key base, jobId, name, data JSON, opts JSON, timestamp, delay (ms), priority, "1" for lifo,
          parent's key or "", parent field JSON or "", "1" when the job has children
  Returns: {0, {positions (1-based) of the jobs that existed already}}, or {PARENT_JOB_CANNOT_BE_REPLACED,
  position} when a job's id is taken by a child of another parent that still exists; a CROSSSLOT error
  when a job's queue is in another hash slot of a cluster (flows.py refuses such a flow before sending).
  Events: on each job's queue, added, then waiting-children (a parent), delayed or waiting; duplicated
  for a job that existed; waiting (prev waiting-children) or delayed for a parent released at once.
]]
local now, version, n = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local GROUP = 12

for i = 0, n - 1 do
  local at = 5 + i * GROUP
  if not reachable(ARGV[at]) then
    return redis.error_reply("CROSSSLOT flow job " .. (i + 1) .. " is in a queue " .. SLOT_REASON
      .. " than the flow's first job")
  end
  local key, parentKey = ARGV[at] .. ARGV[at + 1], ARGV[at + 9]
  if parentKey ~= "" then
    -- A stored parentKey is followed only to a job under this prefix (another program may have written it).
    local existingParent = jobField(key, "parentKey")
    if existingParent and existingParent ~= parentKey and jobKeyUnder(prefixOf(ARGV[at]), existingParent)
        and rcall("EXISTS", existingParent) == 1 then
      return {PARENT_JOB_CANNOT_BE_REPLACED, i + 1}
    end
  end
end

local queues = {}
local function queueOf(base)
  local q = queues[base]
  if not q then
    q = queueKeys(base)
    queues[base] = q
    initMaxEvents(q)
    rcall("HSET", q.meta, "version", version)
  end
  return q
end

-- BullMQ's updateExistingJobsParent, for a flow (the parent is released once the whole tree is in).
local function linkExisting(q, jobId, key, parentKey, parentJson)
  if parentKey == "" then return end
  if rcall("ZSCORE", q.completed, jobId) then
    rcall("HSET", parentKey .. ":processed", key, jobField(key, "returnvalue") or "null")
  else
    rcall("SADD", parentKey .. ":dependencies", key)
  end
  redis.pcall("HSET", key, "parentKey", parentKey, "parent", parentJson)
end

local existed, parents = {}, {}
for i = 0, n - 1 do
  local at = 5 + i * GROUP
  local q, jobId = queueOf(ARGV[at]), ARGV[at + 1]
  local key, parentKey, parentJson = q.base .. jobId, ARGV[at + 9], ARGV[at + 10]
  rcall("INCR", q.id)
  if ARGV[at + 11] == "1" then parents[#parents + 1] = {q, jobId} end
  if rcall("EXISTS", key) == 1 then
    existed[#existed + 1] = i + 1
    linkExisting(q, jobId, key, parentKey, parentJson)
    emit(q, "duplicated", "jobId", jobId)
  else
    local timestamp, delay, priority = tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6]), tonumber(ARGV[at + 7])
    local extra = {}
    if parentKey ~= "" then extra = {"parentKey", parentKey, "parent", parentJson} end
    storeJob(q, jobId, ARGV[at + 2], ARGV[at + 3], ARGV[at + 4], timestamp, delay, priority, extra)
    if ARGV[at + 11] == "1" then
      rcall("ZADD", q.waitingChildren, timestamp, jobId)
      emit(q, "waiting-children", "jobId", jobId)
    else
      placeNewJob(q, jobId, timestamp, delay, priority, ARGV[at + 8] == "1")
    end
    if parentKey ~= "" then rcall("SADD", parentKey .. ":dependencies", key) end
  end
end

for _, parent in ipairs(parents) do releaseParent(parent[1], parent[2], now, true) end
return {0, existed}
