--[[
  Shared helpers, prepended to every script by scripts.py (then the helper files a script includes, then
  _queue.lua, which builds the current queue's table Q, then the script itself).

  Helpers never use the current queue implicitly: each takes the keys of the queue it works on as its first
  argument `q`, a table built by queueKeys (or, for the current queue, Q from KEYS):
    q.base   the key base "<prefix>:<queue>:", from which job keys are built:
             <base><id>  <base><id>:lock  <base><id>:logs  <base><id>:dependencies  <base><id>:processed ...
    q.wait  q.active  q.paused  q.delayed  q.prioritized  q.pc  q.marker  q.waitingChildren
    q.completed  q.failed  q.stalled  q.stalledCheck  q.id  q.meta  q.events  q.limiter
  so that the same helper serves another queue, such as a child's parent's, which lives under another base.

  Another program may have left a key of another type where a job hash belongs (an id in a state list
  whose key is a string). Helpers that touch job hashes of ids read from the queue's lists use
  redis.pcall or jobKeyType, so that one such key never fails a whole script.
]]
local rcall = redis.call

-- Return codes, named once: board/engine/codes.py holds the same names and numbers (a test checks it).
-- A refusal is negative, with BullMQ's number where BullMQ has the same meaning (enums/error-code.ts);
-- the board's own refusals count down from -101, clear of BullMQ's numbers.
local JOB_NOT_FOUND = -1           -- BullMQ JobNotExist: no job hash under that id
local JOB_LOCK_MISSING = -2        -- BullMQ JobLockNotExist: the caller's lock on the job is gone
local JOB_NOT_IN_STATE = -3        -- BullMQ JobNotInState: the job is not in the state the operation needs
local JOB_LOCK_MISMATCH = -6       -- BullMQ JobLockMismatch: the job's lock is held under another token
local PARENT_JOB_CANNOT_BE_REPLACED = -7 -- BullMQ's: a flow job's id is taken by a child of another parent
local JOB_BELONGS_TO_JOB_SCHEDULER = -8  -- BullMQ's: the job is a scheduler's next run
local JOB_LOCKED = -101            -- a worker holds the job's lock (it is being processed)
local QUEUE_NOT_PAUSED = -102      -- the operation needs the queue to be paused
local QUEUE_HAS_ACTIVE_JOBS = -103 -- the queue has active jobs and the operation was not forced
-- What finish_jobs.lua did with a job it did not refuse.
local FINISHED = 0                 -- finished by this call
local FINISHED_EARLIER = 1         -- already finished by an earlier try of the same call
local FINISHED_AS_FAILED = 2       -- to complete, but a key its completion writes has another type: failed

-- The queue-level keys every script receives as KEYS, in this order (keys.SCRIPT_KEY_SUFFIXES): the field
-- of a queue table, then the key's suffix after the base.
local QUEUE_KEYS = {
  {"wait", "wait"}, {"active", "active"}, {"paused", "paused"}, {"delayed", "delayed"},
  {"prioritized", "prioritized"}, {"pc", "pc"}, {"marker", "marker"}, {"waitingChildren", "waiting-children"},
  {"completed", "completed"}, {"failed", "failed"}, {"stalled", "stalled"}, {"stalledCheck", "stalled-check"},
  {"id", "id"}, {"meta", "meta"}, {"events", "events"}, {"limiter", "limiter"},
}
local JOB_SUB_KEYS = {"lock", "logs", "dependencies", "processed", "failed", "unsuccessful"}
local PRIORITY_SHIFT = 4294967296 -- 2^32
local DELAY_SHIFT = 4096          -- delayed score = due ms * 4096 + seq
local DEFAULT_MAX_EVENTS = 10000

-- The keys of the queue whose key base is `base` ("<prefix>:<queue>:").
local function queueKeys(base)
  local q = {base = base}
  for _, key in ipairs(QUEUE_KEYS) do q[key[1]] = base .. key[2] end
  return q
end

-- The approximate length each events stream is trimmed to, by stream key: read from its queue's meta on
-- the first event written there, so that scripts that write none (the reads) skip the HGET.
local MAX_EVENTS = {}

-- Keeps the length q's events stream is trimmed to, from meta's opts.maxLenEvents as stored (`stored`,
-- false when the field is missing).
local function keepMaxEvents(q, stored)
  local maxLen = tonumber(stored)
  -- Any other number (negative, a fraction, "nan", too big for XADD) would fail the XADD, half-way.
  if not maxLen or maxLen < 0 or maxLen > 1e12 or maxLen ~= math.floor(maxLen) then
    maxLen = DEFAULT_MAX_EVENTS
  end
  MAX_EVENTS[q.events] = maxLen
end

-- Writes meta's opts.maxLenEvents when it is missing (as BullMQ's getOrSetMaxEvents): read first, since
-- the first event needs the value anyway, and it is missing only once in a queue's life.
local function initMaxEvents(q)
  local stored = rcall("HGET", q.meta, "opts.maxLenEvents")
  if not stored then
    rcall("HSET", q.meta, "opts.maxLenEvents", DEFAULT_MAX_EVENTS)
  end
  keepMaxEvents(q, stored)
end

local function emit(q, ...)
  if MAX_EVENTS[q.events] == nil then
    keepMaxEvents(q, rcall("HGET", q.meta, "opts.maxLenEvents"))
  end
  rcall("XADD", q.events, "MAXLEN", "~", MAX_EVENTS[q.events], "*", "event", ...)
end

local function isPaused(q)
  return rcall("HEXISTS", q.meta, "paused") == 1
end

-- Marker member "0" tells blocked workers that wait or prioritized holds runnable jobs.
local function addBaseMarker(q)
  if not isPaused(q) then
    rcall("ZADD", q.marker, 0, "0")
  end
end

-- Marker member "1", scored with the earliest due time, wakes a worker when a delayed job falls due.
local function addDelayMarker(q)
  if isPaused(q) then return end
  local first = rcall("ZRANGE", q.delayed, 0, 0, "WITHSCORES")
  if first[2] then
    rcall("ZADD", q.marker, math.floor(tonumber(first[2]) / DELAY_SHIFT), "1")
  end
end

local function delayedScore(q, dueMs)
  local low = dueMs * DELAY_SHIFT
  local high = low + DELAY_SHIFT - 1
  local last = rcall("ZREVRANGEBYSCORE", q.delayed, high, low, "WITHSCORES", "LIMIT", 0, 1)
  if last[2] then
    local score = tonumber(last[2]) + 1
    if score > high then score = high end
    return score
  end
  return low
end

-- Events: delayed.
local function addToDelayed(q, jobId, dueMs)
  rcall("ZADD", q.delayed, delayedScore(q, dueMs), jobId)
  emit(q, "delayed", "jobId", jobId, "delay", dueMs)
  addDelayMarker(q)
end

-- Puts a job where it will run: prioritized when it has a priority, else wait (head, or tail for lifo).
-- Writes no event: the caller writes "waiting" with the state the job came from.
local function enqueue(q, jobId, priority, lifo)
  if priority > 0 then
    local pc = rcall("INCR", q.pc)
    rcall("ZADD", q.prioritized, priority * PRIORITY_SHIFT + pc, jobId)
  elseif lifo then
    rcall("RPUSH", q.wait, jobId)
  else
    rcall("LPUSH", q.wait, jobId)
  end
  addBaseMarker(q)
end

-- "hash" for a job, "none" when there is no key, else the type another program gave that key.
local function jobKeyType(jobKey)
  return rcall("TYPE", jobKey)["ok"]
end

-- A field of a job hash, or nil when it is missing or the key is not a hash.
local function jobField(jobKey, field)
  local value = redis.pcall("HGET", jobKey, field)
  if type(value) == "string" then return value end
  return nil
end

-- A state key that another program wrote with the wrong type holds no job, rather than failing the call.
local function listedIn(command, key, jobId)
  local found = redis.pcall(command, key, jobId)
  return found and not (type(found) == "table" and found.err)
end

local function jobPriority(jobKey)
  return tonumber(jobField(jobKey, "priority")) or 0
end

local function jobIsLifo(jobKey)
  local opts = jobField(jobKey, "opts")
  return opts ~= nil and string.find(opts, '"lifo":true', 1, true) ~= nil
end

-- Puts a job back where it runs, with its own priority and lifo option.
local function requeue(q, jobId)
  local jobKey = q.base .. jobId
  enqueue(q, jobId, jobPriority(jobKey), jobIsLifo(jobKey))
end

-- Moves delayed ids, just read from q.delayed, to where they run.
local function promoteDelayed(q, ids)
  if #ids == 0 then return end
  rcall("ZREM", q.delayed, unpack(ids))
  for _, jobId in ipairs(ids) do
    -- pcall: an id whose key is not a job hash still leaves delayed; it is dropped when it is taken.
    redis.pcall("HSET", q.base .. jobId, "delay", 0)
    requeue(q, jobId)
    emit(q, "waiting", "jobId", jobId, "prev", "delayed")
  end
end

-- The queue-level key names of keys.py (QUEUE_KEY_NAMES): an id listed in a state by another program may
-- be one of them, and deleting "its" keys would delete the queue's own.
local QUEUE_KEY_NAMES = {
  wait = true, active = true, paused = true, delayed = true, prioritized = true, pc = true, marker = true,
  ["waiting-children"] = true, completed = true, failed = true, stalled = true, ["stalled-check"] = true,
  id = true, meta = true, events = true, limiter = true, ["repeat"] = true, metrics = true, de = true,
  dn = true, priority = true,
}

-- keys.py's check_job_id, for ids read from Redis: no ':' and not a queue key, or repeat:<key>:<millis>.
local function isJobId(jobId)
  if QUEUE_KEY_NAMES[jobId] then return false end
  if not string.find(jobId, ":", 1, true) then return true end
  return string.match(jobId, "^repeat:[^:]+:%d+$") ~= nil
end

-- Deletes a job's hash and sub-keys. A listed id that cannot name a job of this queue leaves its list,
-- but no key is deleted for it.
local function removeJobKeys(q, jobId)
  if not isJobId(jobId) then return end
  local jobKey = q.base .. jobId
  local keys = {jobKey}
  for _, sub in ipairs(JOB_SUB_KEYS) do keys[#keys + 1] = jobKey .. ":" .. sub end
  rcall("DEL", unpack(keys))
end

-- A job that is removed gives up its deduplication id when it still holds it, with the payload kept for
-- the next job of that id (keepLastIfActive): BullMQ's removeDeduplicationKeyIfNeededOnRemoval.
local function dropDedupKey(q, jobId)
  if not isJobId(jobId) then return end
  local dedup = jobField(q.base .. jobId, "deid")
  if dedup and redis.pcall("GET", q.base .. "de:" .. dedup) == jobId then
    rcall("DEL", q.base .. "de:" .. dedup, q.base .. "dn:" .. dedup)
  end
end

-- "<base><id>" -> base, id; nil for a key that names no job. The only ids with ':' are a scheduler's runs.
local function splitJobKey(jobKey)
  local base, id = string.match(jobKey, "^(.+:)(repeat:[^:]+:%d+)$")
  if base then return base, id end
  return string.match(jobKey, "^(.+:)([^:]+)$")
end

--[[
  Links that stored data names. A job hash names other keys (its parentKey, its parent field's queueKey
  and id, its deduplication id); another program may have written anything there, and in the keys they
  name. A script follows such a link only to a job of a queue under the job's own prefix, and checks
  the types of the keys it is about to write before its first write for the job: a key of another type
  fails the job alone, or leaves that link as it is, with a reason saying so, instead of failing the
  whole call half-way (Redis does not undo a script's earlier writes when it fails).
]]

-- The prefix "<prefix>:" of a queue's key base "<prefix>:<queue>:" (a prefix may hold ':', as "{a:b}").
local function prefixOf(base)
  return string.match(base, "^(.*:)[^:]+:$")
end

--[[
  Redis Cluster: a script may touch keys of its own hash slot only. A key another node serves fails the
  script with the writes before it kept, and redis.pcall would hide the failure. So a link to another
  queue (a parent, a child, a dead-letter queue) is followed only when that queue's keys are reachable:
  its key base holds a hash tag (then every key of the queue shares one slot) and that slot is the one
  of the script's first key. Off-cluster CLUSTER KEYSLOT fails ("cluster support disabled"): every queue
  is reachable. Asked once per script run, and only for a base other than the script's own queue.
  _queue.lua sets HOME: the script's first key and its queue's base.
]]
local SLOT_REASON = "in another hash slot of the cluster"
local HOME = {key = nil, base = nil, slot = nil} -- slot: false off-cluster, else the slot of HOME.key

local function hasHashTag(key)
  local open = string.find(key, "{", 1, true)
  if not open then return false end
  local close = string.find(key, "}", open + 1, true)
  return close ~= nil and close > open + 1
end

local function reachable(base)
  if base == HOME.base or not HOME.key then return true end
  if HOME.slot == nil then
    local slot = redis.pcall("CLUSTER", "KEYSLOT", HOME.key)
    HOME.slot = type(slot) == "number" and slot
  end
  if not HOME.slot then return true end
  return hasHashTag(base) and rcall("CLUSTER", "KEYSLOT", base) == HOME.slot
end

-- A key read from Redis that should name a job: its queue's keys and its id when it is
-- "<prefix>:<queue>:<id>" with `prefix` (as prefixOf gives it), a queue name and a job id, reachable
-- from this script; else nil, and SLOT_REASON when only the cluster's hash slots forbid it.
local function jobKeyUnder(prefix, key)
  if not prefix or type(key) ~= "string" or string.sub(key, 1, #prefix) ~= prefix then return nil end
  local name, id = string.match(string.sub(key, #prefix + 1), "^([^:]+):(.+)$")
  if not name or not isJobId(id) then return nil end
  local base = prefix .. name .. ":"
  if not reachable(base) then return nil, nil, SLOT_REASON end
  return queueKeys(base), id
end

-- The parent that job key jobKey names in its parentKey field, as jobKeyUnder gives it, under the job's
-- own prefix; nil when there is none, or it names no job under that prefix.
local function parentOf(jobKey)
  local base = splitJobKey(jobKey)
  return jobKeyUnder(base and prefixOf(base), jobField(jobKey, "parentKey"))
end

-- Stored text quoted in a reason, cut short: another program may have written megabytes there.
local function shown(text)
  if #text > 100 then return string.sub(text, 1, 100) .. "..." end
  return text
end

-- Why `key` cannot take the writes meant for a `want` key (another program gave it another type), or nil.
local function typeProblem(key, want)
  local found = jobKeyType(key)
  if found == "none" or found == want then return nil end
  return shown(key) .. " is a " .. found .. ", not a " .. want
end

-- Whether text is an integer as INCR and HINCRBY read one (no leading zero or '+'), and far enough from
-- the 64-bit bound that adding to it cannot overflow.
local function isInteger(text)
  return text == "0" or (#text <= 18 and string.match(text, "^%-?[1-9]%d*$") ~= nil)
end

-- Why counter key `key` (a queue's id or pc) cannot be incremented, or nil.
local function counterKeyProblem(key)
  local problem = typeProblem(key, "string")
  if problem then return problem end
  local value = rcall("GET", key)
  if value and not isInteger(value) then return shown(key) .. " is not an integer" end
  return nil
end

-- The keys of a queue that moving or adding a job there writes, with the type each must have.
local QUEUE_KEY_TYPES = {
  {"wait", "list"}, {"prioritized", "zset"}, {"delayed", "zset"}, {"waitingChildren", "zset"},
  {"marker", "zset"}, {"failed", "zset"}, {"meta", "hash"}, {"events", "stream"},
}

-- Why queue q cannot take a job moved or added there (one of its keys has another type), or nil: asked
-- of a queue named by stored data or by an option, and before writes that must not stop half-way.
local function queueProblem(q)
  for _, entry in ipairs(QUEUE_KEY_TYPES) do
    local problem = typeProblem(q[entry[1]], entry[2])
    if problem then return problem end
  end
  return counterKeyProblem(q.pc)
end

-- A parent whose wait for its children is over goes where it runs, as BullMQ's moveParentToWait: to
-- delayed when it was added with a delay (counted from now), else to the tail of wait (it runs next) or
-- to prioritized.
-- Events, on the parent's queue: delayed, or waiting (prev waiting-children).
local function moveParentToWait(pq, parentId, now)
  local parentKey = pq.base .. parentId
  local delay = tonumber(jobField(parentKey, "delay")) or 0
  if delay > 0 then
    addToDelayed(pq, parentId, now + delay)
    return
  end
  local priority = jobPriority(parentKey)
  if priority > 0 then
    enqueue(pq, parentId, priority, false)
  else
    rcall("RPUSH", pq.wait, parentId)
    addBaseMarker(pq)
  end
  emit(pq, "waiting", "jobId", parentId, "prev", "waiting-children")
end

-- Whether parent parentId of queue pq can leave waiting-children now: its hash is a hash, it is there,
-- and its queue's keys can take it (else it stays where it is, rather than be lost half-way).
local function parentMovable(pq, parentId)
  return jobKeyType(pq.base .. parentId) == "hash" and listedIn("ZSCORE", pq.waitingChildren, parentId)
    and not queueProblem(pq)
end

-- Moves parent parentId of queue pq out of waiting-children, when it is there and (with checkPending)
-- waits for no child. Events: those of moveParentToWait.
local function releaseParent(pq, parentId, now, checkPending)
  local depsKey = pq.base .. parentId .. ":dependencies"
  if checkPending and redis.pcall("SCARD", depsKey) ~= 0 then return end
  if not parentMovable(pq, parentId) then return end
  rcall("ZREM", pq.waitingChildren, parentId)
  moveParentToWait(pq, parentId, now)
end

-- A job that goes away no longer holds its parent back (BullMQ's removeParentDependencyKey): when it was
-- the last child the parent waited for, the parent goes to the tail of wait. `hard` (clean, drain): a
-- parent in the job's own queue q goes too, as BullMQ does. parentKey nil: the job's own parentKey. A
-- parentKey that names no job under q's prefix is not followed.
-- Returns whether the job was a pending child.
-- Events, on the parent's queue: waiting (prev waiting-children), unless the parent was removed.
local function removeParentDependency(jobKey, parentKey, hard, q)
  parentKey = parentKey or jobField(jobKey, "parentKey")
  local pq, parentId = jobKeyUnder(prefixOf(q.base), parentKey)
  if not pq or rcall("EXISTS", parentKey) == 0 then return false end
  local depsKey = parentKey .. ":dependencies"
  if redis.pcall("SREM", depsKey, jobKey) ~= 1 then return false end
  if rcall("SCARD", depsKey) > 0 or not parentMovable(pq, parentId) then return true end
  rcall("ZREM", pq.waitingChildren, parentId)
  if hard and pq.base == q.base then
    local dedup = jobField(parentKey, "deid")
    removeParentDependency(parentKey, nil, true, q)
    removeJobKeys(pq, parentId)
    if dedup then rcall("DEL", pq.base .. "de:" .. dedup) end
  else
    rcall("RPUSH", pq.wait, parentId)
    addBaseMarker(pq)
    emit(pq, "waiting", "jobId", parentId, "prev", "waiting-children")
  end
  return true
end

-- BullMQ's removeJob: a job removed by clean or drain (hard), with its deduplication id.
local function dropJob(q, jobId, hard)
  if not isJobId(jobId) then return end
  removeParentDependency(q.base .. jobId, nil, hard, q)
  dropDedupKey(q, jobId)
  removeJobKeys(q, jobId)
end

-- Finished sets: keepCount < 0 keeps all; keepAge (seconds) > 0 drops older jobs. At most 1000 a call.
-- A dropped job still pending for a parent releases it, as BullMQ's removeJobsByMaxCount/Age.
local function trimJobs(q, ids)
  for _, id in ipairs(ids) do
    if isJobId(id) then removeParentDependency(q.base .. id, nil, false, q) end
    removeJobKeys(q, id)
  end
end

local function trimFinished(q, setKey, keepCount, keepAge, now)
  if keepCount >= 0 then
    local excess = rcall("ZCARD", setKey) - keepCount
    if excess > 0 then
      local ids = rcall("ZRANGE", setKey, 0, math.min(excess, 1000) - 1)
      trimJobs(q, ids)
      rcall("ZREMRANGEBYRANK", setKey, 0, #ids - 1)
    end
  end
  if keepAge > 0 then
    local ids = rcall("ZRANGEBYSCORE", setKey, "-inf", now - keepAge * 1000, "LIMIT", 0, 1000)
    if #ids > 0 then
      trimJobs(q, ids)
      rcall("ZREM", setKey, unpack(ids))
    end
  end
end

-- Why completing child jobKey cannot hand its result to parent parentId of queue pq, or nil: the
-- parent's processed hash, or (when the child is the last one the parent waits for) its queue's keys,
-- have another type. A child the parent no longer waits for has nothing to hand over.
local function settleProblem(pq, parentId, jobKey)
  local parentKey = pq.base .. parentId
  local depsKey = parentKey .. ":dependencies"
  if redis.pcall("SISMEMBER", depsKey, jobKey) ~= 1 then return nil end
  local problem = typeProblem(parentKey .. ":processed", "hash")
  if problem or rcall("SCARD", depsKey) > 1 then return problem end
  if jobKeyType(parentKey) ~= "hash" or not listedIn("ZSCORE", pq.waitingChildren, parentId) then return nil end
  return queueProblem(pq)
end

-- A child completed: its return value goes to its parent's processed hash, and the parent runs when no
-- child is left. The parent may belong to another queue of the prefix: its keys come from the child's
-- parentKey (settleProblem has checked them).
-- Events, on the parent's queue: those of moveParentToWait.
local function settleParent(jobKey, returnvalue, now)
  local pq, parentId = parentOf(jobKey)
  if not pq then return end
  local parentKey = pq.base .. parentId
  if redis.pcall("SREM", parentKey .. ":dependencies", jobKey) ~= 1 then return end
  redis.pcall("HSET", parentKey .. ":processed", jobKey, returnvalue)
  releaseParent(pq, parentId, now, true)
end

-- A child retried by hand (from failed or completed) is pending for its parent again, as BullMQ's
-- moveChildBackToParentDependencies; a parent that has left waiting-children stays where it is.
local function childBackToParent(jobKey, prevState)
  local pq, parentId = parentOf(jobKey)
  if not pq or rcall("EXISTS", pq.base .. parentId) == 0 then return end
  local parentKey = pq.base .. parentId
  local back
  if prevState == "failed" then
    back = redis.pcall("ZREM", parentKey .. ":unsuccessful", jobKey) == 1
      or redis.pcall("HDEL", parentKey .. ":failed", jobKey) == 1
  else
    back = redis.pcall("HDEL", parentKey .. ":processed", jobKey) == 1
  end
  if back then redis.pcall("SADD", parentKey .. ":dependencies", jobKey) end
end

-- failParentOnFailure: the parent is marked to fail (its deferred failure, applied when a worker takes
-- it) and goes where it runs; a parent already running or done is only marked (BullMQ's
-- handleChildFailureAndMoveParentToWait). A parent whose queue cannot take it is only marked.
local function failParentLater(pq, parentId, childKey, now)
  local parentKey = pq.base .. parentId
  if jobKeyType(parentKey) ~= "hash" then return end
  local reason = "child " .. childKey .. " failed"
  local from = nil
  if listedIn("ZSCORE", pq.waitingChildren, parentId) then
    from = pq.waitingChildren
  elseif listedIn("ZSCORE", pq.delayed, parentId) then
    from = pq.delayed
  end
  if from and not queueProblem(pq) then
    rcall("ZREM", from, parentId)
    -- A delayed parent runs at once to fail; one in waiting-children keeps its delay, as in BullMQ.
    if from == pq.delayed then rcall("HSET", parentKey, "delay", 0) end
    rcall("HSET", parentKey, "defa", reason)
    moveParentToWait(pq, parentId, now)
  elseif not listedIn("ZSCORE", pq.failed, parentId) then
    rcall("HSET", parentKey, "defa", reason)
  end
end

-- A job id read from stored JSON (a parent field's id, a string or a number), when it is one.
local function storedJobId(value)
  if type(value) == "number" and value == math.floor(value) then value = string.format("%d", value) end
  if type(value) == "string" and isJobId(value) then return value end
  return nil
end

-- The parent that failing child jobKey reports to, as BullMQ's moveChildFromDependenciesIfNeeded reads
-- it (the child's parent field: queueKey, id and the failure flags): {q, id, key, flags}, or nil when
-- there is nothing to do (no flag, or the child is no longer pending). Second value: why the parent is
-- left as it is (it names no job under the child's prefix, or a key to write has another type).
local function failedParentOf(q, jobKey)
  local ok, parent = pcall(cjson.decode, jobField(jobKey, "parent") or "")
  if not ok or type(parent) ~= "table" then return nil end
  if not (parent.fpof or parent.cpof or parent.idof or parent.rdof) then return nil end
  local pq, id, elsewhere = nil, storedJobId(parent.id), nil
  if id and type(parent.queueKey) == "string" then
    pq, id, elsewhere = jobKeyUnder(prefixOf(q.base), parent.queueKey .. ":" .. id)
  end
  if elsewhere then return nil, "its parent is " .. elsewhere .. ": parent not told" end
  if not pq then return nil, "its parent field names no job of a queue under this prefix: parent not told" end
  local p = {q = pq, id = id, key = pq.base .. id, flags = parent}
  if redis.pcall("SISMEMBER", p.key .. ":dependencies", jobKey) ~= 1 then return nil end
  local problem = nil
  if parent.fpof then
    problem = typeProblem(p.key .. ":unsuccessful", "zset")
  elseif parent.cpof or parent.idof then
    problem = typeProblem(p.key .. ":failed", "hash")
  end
  if problem then return nil, "parent " .. shown(p.key) .. " not told: " .. problem end
  return p
end

-- A child failed for good: what its parent p (failedParentOf) does follows the child's flags, as
-- BullMQ's moveChildFromDependenciesIfNeeded: fpof (failParentOnFailure) records it in the parent's
-- unsuccessful set and fails the parent; cpof (continueParentOnFailure) records it in the parent's failed
-- hash and runs the parent at once; idof (ignoreDependencyOnFailure) records it there and rdof
-- (removeDependencyOnFailure) does not, and both run the parent when no other child is pending. Without
-- a flag the parent keeps waiting (the child may be retried).
-- Events, on the parent's queue: those of moveParentToWait.
local function childFailed(p, jobKey, reason, now)
  if redis.pcall("SREM", p.key .. ":dependencies", jobKey) ~= 1 then return end
  if p.flags.fpof then
    redis.pcall("ZADD", p.key .. ":unsuccessful", now, jobKey)
    failParentLater(p.q, p.id, jobKey, now)
  elseif p.flags.cpof then
    redis.pcall("HSET", p.key .. ":failed", jobKey, reason)
    releaseParent(p.q, p.id, now, false)
  else
    releaseParent(p.q, p.id, now, true)
    if p.flags.idof then redis.pcall("HSET", p.key .. ":failed", jobKey, reason) end
  end
end

-- Deduplication keys last `ttl` ms when one is given (a number of ms > 0), else until released.
local function setDedupKey(key, jobId, ttl)
  ttl = math.floor(tonumber(ttl) or 0)
  if ttl > 0 then
    rcall("SET", key, jobId, "PX", ttl)
  else
    rcall("SET", key, jobId)
  end
end

-- Writes a new job's hash; `extra` holds more field, value pairs (parentKey, parent, rjk, deid).
-- Events: added.
local function storeJob(q, jobId, name, data, opts, timestamp, delay, priority, extra)
  rcall("HSET", q.base .. jobId, "name", name, "data", data, "opts", opts, "timestamp", timestamp,
    "delay", delay, "priority", priority, unpack(extra))
  emit(q, "added", "jobId", jobId, "name", name)
end

-- Puts a new job where it waits. Events: delayed (with a delay), else waiting.
local function placeNewJob(q, jobId, timestamp, delay, priority, lifo)
  if delay > 0 then
    addToDelayed(q, jobId, timestamp + delay)
  else
    enqueue(q, jobId, priority, lifo)
    emit(q, "waiting", "jobId", jobId)
  end
end

-- A free job id in q: `preferred` when it can name a job and no key has it, else the next free number of
-- q's counter, which moves on in any case, as every add moves it. Another program may have written any
-- id where one is stored: it never names a key that exists, nor one of the queue's own.
local function freeJobId(q, preferred)
  local counter = rcall("INCR", q.id)
  if type(preferred) == "string" and isJobId(preferred) and rcall("EXISTS", q.base .. preferred) == 0 then
    return preferred
  end
  local id = tostring(counter)
  while rcall("EXISTS", q.base .. id) == 1 do id = tostring(rcall("INCR", q.id)) end
  return id
end

-- The parent a kept add names (pk, with pdk its dependencies set), when pdk is pk's dependencies set and
-- pk an existing job hash of a queue under q's prefix whose set can take a member; else nil.
local function keptParent(q, pk, pdk)
  if not pk or pdk ~= pk .. ":dependencies" or not jobKeyUnder(prefixOf(q.base), pk) then return nil end
  if jobKeyType(pk) ~= "hash" or typeProblem(pdk, "set") then return nil end
  return pk
end

-- keepLastIfActive: the latest add dropped while the job of its deduplication id ran ("dn:<id>") becomes
-- a job once that job finishes (BullMQ's requeueDeduplicatedJob), holding the deduplication id in turn.
-- Its stored id (jid) is used only where freeJobId allows it, and its parent link only where keptParent
-- does; dedupProblem has checked the keys written.
-- Events: added, then delayed or waiting.
local function requeueDeduplicated(q, dedup, now)
  local nextKey = q.base .. "dn:" .. dedup
  if jobKeyType(nextKey) ~= "hash" then return end
  local f = rcall("HMGET", nextKey, "name", "data", "opts", "pk", "pd", "pdk", "rjk", "jid")
  -- As BullMQ: the counter moves on even when the stored add had an id of its own.
  local jobId = freeJobId(q, f[8])
  local ok, opts = pcall(cjson.decode, f[3] or "{}")
  if not ok or type(opts) ~= "table" then opts = {} end
  local de = type(opts.de) == "table" and opts.de or {}
  local key = q.base .. "de:" .. dedup
  if de.keepLastIfActive then rcall("SET", key, jobId) else setDedupKey(key, jobId, de.ttl) end
  local extra = {"deid", dedup}
  local parentKey = f[5] and keptParent(q, f[4], f[6])
  if parentKey then
    extra[#extra + 1] = "parentKey"; extra[#extra + 1] = parentKey
    extra[#extra + 1] = "parent"; extra[#extra + 1] = f[5]
  end
  if f[7] then extra[#extra + 1] = "rjk"; extra[#extra + 1] = f[7] end
  local delay, priority = tonumber(opts.delay) or 0, tonumber(opts.priority) or 0
  storeJob(q, jobId, f[1] or "", f[2] or "{}", f[3] or "{}", now, delay, priority, extra)
  placeNewJob(q, jobId, now, delay, priority, opts.lifo == true)
  if parentKey then rcall("SADD", parentKey .. ":dependencies", q.base .. jobId) end
  rcall("DEL", nextKey)
end

-- Why the deduplication id `dedup` of a finishing job cannot be released and its kept add followed, or
-- nil: de:<id> is not a string, dn:<id> not a hash, or (when there is a kept add to turn into a job) the
-- queue's keys cannot take a job.
local function dedupProblem(q, dedup)
  local nextKey = q.base .. "dn:" .. dedup
  local problem = typeProblem(q.base .. "de:" .. dedup, "string") or typeProblem(nextKey, "hash")
  if problem or rcall("EXISTS", nextKey) == 0 then return problem end
  return counterKeyProblem(q.id) or queueProblem(q)
end

-- A job that finishes (completed or failed) releases its deduplication id `dedup` when it holds it
-- without a ttl (a ttl runs its course), as BullMQ's removeDeduplicationKeyIfNeededOnFinalization, then
-- the add kept for later (keepLastIfActive), if any, becomes a job. dedupProblem has checked the keys.
-- Events: those of requeueDeduplicated.
local function finishDedup(q, jobId, dedup, now)
  local key = q.base .. "de:" .. dedup
  local pttl = rcall("PTTL", key)
  if pttl == 0 or (pttl == -1 and redis.pcall("GET", key) == jobId) then rcall("DEL", key) end
  requeueDeduplicated(q, dedup, now)
end

-- Adds to a job's counter field; nil when another program left something there that is not an integer.
local function bump(jobKey, field, by)
  local value = redis.pcall("HINCRBY", jobKey, field, by)
  if type(value) == "number" then return value end
  return nil
end

-- Why a counter field of a job cannot be counted on (text where BullMQ writes an integer), or nil, from
-- its ats, atm and stc fields as HMGET returns them first (false when missing).
-- A script error there would stop the whole call, so such a job is failed alone instead.
local function counterProblem(values)
  for i, field in ipairs({"ats", "atm", "stc"}) do
    local value = values[i]
    if value and not isInteger(value) then
      return field .. " is not an integer: '" .. string.sub(value, 1, 40) .. "'"
    end
  end
  return nil
end

-- Why the dead-letter queue dlq cannot take a dead letter (its id counter is not an integer, or one of
-- its keys has another type), or nil.
local function deadLetterProblem(dlq)
  if not reachable(dlq.base) then return "its dead-letter queue is " .. SLOT_REASON end
  return counterKeyProblem(dlq.id) or queueProblem(dlq)
end

-- Moves a job (already out of active) to failed for good: into the failed set first, then its links, so
-- that no error can leave it out of every state. Its deduplication id and its parent follow BullMQ's
-- rules; then dead.copy(q, jobId, dead.keys, now, attemptsMade), when `dead` is given (the worker's
-- dead-letter queue), copies the failed job before the job's removal policy applies (a job removed on
-- failure releases a parent still waiting for it). A link whose keys another program gave another type
-- (dedupProblem, failedParentOf, deadLetterProblem) is left as it is, and the failed reason says so.
-- Events: failed (prev active), and retries-exhausted when no attempt is left; those of finishDedup,
-- childFailed and removeParentDependency.
local function failJob(q, jobId, reason, now, keepCount, keepAge, attempts, dead)
  local jobKey = q.base .. jobId
  local notes = {}
  -- A problem the reason names already (the one a completion failed on) is not said twice.
  local function note(text, problem)
    if problem and not string.find(reason, problem, 1, true) then notes[#notes + 1] = text .. problem end
  end
  local dedup = jobField(jobKey, "deid")
  local dedupBad = dedup and dedupProblem(q, dedup)
  note("deduplication id " .. shown(dedup or "") .. " kept: ", dedupBad)
  local parent, parentBad = failedParentOf(q, jobKey)
  note("", parentBad)
  local deadBad = dead and deadLetterProblem(dead.keys)
  note("no dead letter: ", deadBad)
  if #notes > 0 then reason = reason .. " (" .. table.concat(notes, "; ") .. ")" end
  -- A broken attempts counter counts as every attempt used.
  local atm = bump(jobKey, "atm", 1) or attempts
  rcall("HSET", jobKey, "failedReason", reason, "finishedOn", now)
  rcall("HDEL", jobKey, "defa")
  rcall("ZADD", q.failed, now, jobId)
  if dedup and not dedupBad then finishDedup(q, jobId, dedup, now) end
  if parent then childFailed(parent, jobKey, reason, now) end
  if dead and not deadBad then dead.copy(q, jobId, dead.keys, now, atm) end
  emit(q, "failed", "jobId", jobId, "failedReason", reason, "prev", "active")
  if atm >= attempts then
    emit(q, "retries-exhausted", "jobId", jobId, "attemptsMade", atm)
  end
  if keepCount == 0 then
    local parentKey = jobField(jobKey, "parentKey")
    rcall("ZREM", q.failed, jobId)
    removeJobKeys(q, jobId)
    if parentKey then removeParentDependency(jobKey, parentKey, false, q) end
  else
    trimFinished(q, q.failed, keepCount, keepAge, now)
  end
end

-- Keep policy of a job from its opts: returns keepCount (-1 = all) and keepAge (seconds, 0 = none).
local function keepPolicy(optsJson, field)
  local ok, opts = pcall(cjson.decode, optsJson or "{}")
  if not ok or type(opts) ~= "table" then return -1, 0 end
  local policy = opts[field]
  if policy == true then return 0, 0 end
  if type(policy) == "number" then return policy, 0 end
  if type(policy) == "table" then
    return tonumber(policy.count) or -1, tonumber(policy.age) or 0
  end
  return -1, 0
end

local function optAttempts(optsJson)
  local ok, opts = pcall(cjson.decode, optsJson or "{}")
  if ok and type(opts) == "table" then return tonumber(opts.attempts) or 0 end
  return 0
end

-- The state of a job, from the cheap lookups to the costly ones (LPOS scans a list).
local function jobState(q, jobId)
  if listedIn("ZSCORE", q.completed, jobId) then return "completed" end
  if listedIn("ZSCORE", q.failed, jobId) then return "failed" end
  if listedIn("ZSCORE", q.delayed, jobId) then return "delayed" end
  if listedIn("ZSCORE", q.prioritized, jobId) then return "prioritized" end
  if listedIn("ZSCORE", q.waitingChildren, jobId) then return "waiting-children" end
  if listedIn("LPOS", q.active, jobId) then return "active" end
  if listedIn("LPOS", q.wait, jobId) then return "waiting" end
  if listedIn("LPOS", q.paused, jobId) then return "paused" end
  return "unknown"
end
