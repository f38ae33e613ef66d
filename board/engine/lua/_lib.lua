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
local JOB_LOCKED = -101            -- a worker holds the job's lock (it is being processed)
local QUEUE_NOT_PAUSED = -102      -- the operation needs the queue to be paused
local QUEUE_HAS_ACTIVE_JOBS = -103 -- the queue has active jobs and the operation was not forced
-- What finish_jobs.lua did with a job it did not refuse.
local FINISHED = 0                 -- finished by this call
local FINISHED_EARLIER = 1         -- already finished by an earlier try of the same call

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

-- Writes meta's opts.maxLenEvents when it is missing (as BullMQ's getOrSetMaxEvents).
local function initMaxEvents(q)
  if rcall("HSETNX", q.meta, "opts.maxLenEvents", DEFAULT_MAX_EVENTS) == 1 then
    MAX_EVENTS[q.events] = DEFAULT_MAX_EVENTS
  end
end

local function emit(q, ...)
  local maxLen = MAX_EVENTS[q.events]
  if maxLen == nil then
    maxLen = tonumber(rcall("HGET", q.meta, "opts.maxLenEvents")) or DEFAULT_MAX_EVENTS
    MAX_EVENTS[q.events] = maxLen
  end
  rcall("XADD", q.events, "MAXLEN", "~", maxLen, "*", "event", ...)
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
local QUEUE_KEY_NAMES = {wait = true, active = true, paused = true, delayed = true, prioritized = true,
  pc = true, marker = true, ["waiting-children"] = true, completed = true, failed = true, stalled = true,
  ["stalled-check"] = true, id = true, meta = true, events = true, limiter = true, ["repeat"] = true,
  metrics = true, de = true, dn = true, priority = true}

-- keys.py's check_job_id, for ids read from Redis: no ':' and not a queue key, or repeat:<key>:<millis>.
local function isJobId(jobId)
  if QUEUE_KEY_NAMES[jobId] then return false end
  if not string.find(jobId, ":", 1, true) then return true end
  return string.match(jobId, "^repeat:[^:]+:%d+$") ~= nil
end

-- A listed id that cannot name a job of this queue leaves its list, but no key is deleted for it.
local function removeJobKeys(q, jobId)
  if not isJobId(jobId) then return end
  local jobKey = q.base .. jobId
  local dedup = jobField(jobKey, "deid")
  if dedup then
    local dedupKey = q.base .. "de:" .. dedup
    if rcall("GET", dedupKey) == jobId then rcall("DEL", dedupKey) end
  end
  local keys = {jobKey}
  for _, sub in ipairs(JOB_SUB_KEYS) do keys[#keys + 1] = jobKey .. ":" .. sub end
  rcall("DEL", unpack(keys))
end

-- Finished sets: keepCount < 0 keeps all; keepAge (seconds) > 0 drops older jobs. At most 1000 a call.
local function trimFinished(q, setKey, keepCount, keepAge, now)
  if keepCount >= 0 then
    local excess = rcall("ZCARD", setKey) - keepCount
    if excess > 0 then
      local ids = rcall("ZRANGE", setKey, 0, math.min(excess, 1000) - 1)
      for _, id in ipairs(ids) do removeJobKeys(q, id) end
      rcall("ZREMRANGEBYRANK", setKey, 0, #ids - 1)
    end
  end
  if keepAge > 0 then
    local ids = rcall("ZRANGEBYSCORE", setKey, "-inf", now - keepAge * 1000, "LIMIT", 0, 1000)
    if #ids > 0 then
      for _, id in ipairs(ids) do removeJobKeys(q, id) end
      rcall("ZREM", setKey, unpack(ids))
    end
  end
end

-- A child finished: record it on its parent and release the parent when no dependency is left.
-- The parent may belong to another queue: its keys come from the child's parent.queueKey.
-- Events, on the parent's queue: waiting (prev waiting-children).
local function settleParent(jobKey, returnvalue)
  local parentKey = rcall("HGET", jobKey, "parentKey")
  if not parentKey then return end
  local depsKey = parentKey .. ":dependencies"
  if rcall("SREM", depsKey, jobKey) == 0 then return end
  rcall("HSET", parentKey .. ":processed", jobKey, returnvalue)
  if rcall("SCARD", depsKey) > 0 then return end
  local parentJson = rcall("HGET", jobKey, "parent")
  local ok, parent = pcall(cjson.decode, parentJson or "")
  if not ok or type(parent) ~= "table" or not parent.queueKey then return end
  local pq = queueKeys(parent.queueKey .. ":")
  local parentId = tostring(parent.id)
  if rcall("ZREM", pq.waitingChildren, parentId) == 0 then return end
  enqueue(pq, parentId, tonumber(rcall("HGET", parentKey, "priority")) or 0, false)
  emit(pq, "waiting", "jobId", parentId, "prev", "waiting-children")
end

-- Adds to a job's counter field; nil when another program left something there that is not an integer.
local function bump(jobKey, field, by)
  local value = redis.pcall("HINCRBY", jobKey, field, by)
  if type(value) == "number" then return value end
  return nil
end

-- Why a counter field of a job cannot be counted on (text where BullMQ writes an integer), or nil.
-- A script error there would stop the whole call, so such a job is failed alone instead.
local function counterProblem(jobKey)
  for _, field in ipairs({"ats", "atm", "stc"}) do
    local value = jobField(jobKey, field)
    if value ~= nil and (#value > 18 or not string.match(value, "^%-?%d+$")) then
      return field .. " is not an integer: '" .. string.sub(value, 1, 40) .. "'"
    end
  end
  return nil
end

-- Moves a job (already out of active) to failed for good.
-- Events: failed (prev active), and retries-exhausted when no attempt is left.
local function failJob(q, jobId, reason, now, keepCount, keepAge, attempts)
  local jobKey = q.base .. jobId
  -- A broken attempts counter counts as every attempt used.
  local atm = bump(jobKey, "atm", 1) or attempts
  rcall("HSET", jobKey, "failedReason", reason, "finishedOn", now)
  rcall("HDEL", jobKey, "defa")
  emit(q, "failed", "jobId", jobId, "failedReason", reason, "prev", "active")
  if atm >= attempts then
    emit(q, "retries-exhausted", "jobId", jobId, "attemptsMade", atm)
  end
  if keepCount == 0 then
    removeJobKeys(q, jobId)
  else
    rcall("ZADD", q.failed, now, jobId)
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
-- A state key that another program wrote with the wrong type holds no job, rather than failing the call.
local function listedIn(command, key, jobId)
  local found = redis.pcall(command, key, jobId)
  return found and not (type(found) == "table" and found.err)
end

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
