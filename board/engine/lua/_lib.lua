--[[
  Shared helpers, prepended to every script by scripts.py.

  Every script receives the queue's keys as KEYS, in the order of keys.SCRIPT_KEYS:
    KEYS[1] wait          KEYS[2] active        KEYS[3] paused       KEYS[4] delayed
    KEYS[5] prioritized   KEYS[6] pc            KEYS[7] marker       KEYS[8] waiting-children
    KEYS[9] completed     KEYS[10] failed       KEYS[11] stalled     KEYS[12] stalled-check
    KEYS[13] id           KEYS[14] meta         KEYS[15] events      KEYS[16] limiter
  and ARGV[1] = the queue's key base "<prefix>:<queue>:", from which job keys are built:
    <base><id>  <base><id>:lock  <base><id>:logs  <base><id>:dependencies  <base><id>:processed ...

  Another program may have left a key of another type where a job hash belongs (an id in a state list
  whose key is a string). Helpers that touch job hashes of ids read from the queue's lists use
  redis.pcall or jobKeyType, so that one such key never fails a whole script.
]]
local rcall = redis.call
local Q = {
  wait = KEYS[1], active = KEYS[2], paused = KEYS[3], delayed = KEYS[4],
  prioritized = KEYS[5], pc = KEYS[6], marker = KEYS[7], waitingChildren = KEYS[8],
  completed = KEYS[9], failed = KEYS[10], stalled = KEYS[11], stalledCheck = KEYS[12],
  id = KEYS[13], meta = KEYS[14], events = KEYS[15], limiter = KEYS[16],
}
local BASE = ARGV[1]
local JOB_SUB_KEYS = {"lock", "logs", "dependencies", "processed", "failed", "unsuccessful"}
local PRIORITY_SHIFT = 4294967296 -- 2^32
local DELAY_SHIFT = 4096          -- delayed score = due ms * 4096 + seq

local function maxEvents()
  return tonumber(rcall("HGET", Q.meta, "opts.maxLenEvents")) or 10000
end

-- Read on the first event only: scripts that write none (the reads) skip the HGET.
local MAXLEN = nil

local function emit(...)
  if MAXLEN == nil then MAXLEN = maxEvents() end
  rcall("XADD", Q.events, "MAXLEN", "~", MAXLEN, "*", "event", ...)
end

local function isPaused()
  return rcall("HEXISTS", Q.meta, "paused") == 1
end

-- Marker member "0" tells blocked workers that wait or prioritized holds runnable jobs.
local function addBaseMarker()
  if not isPaused() then
    rcall("ZADD", Q.marker, 0, "0")
  end
end

-- Marker member "1", scored with the earliest due time, wakes a worker when a delayed job falls due.
local function addDelayMarker()
  if isPaused() then return end
  local first = rcall("ZRANGE", Q.delayed, 0, 0, "WITHSCORES")
  if first[2] then
    rcall("ZADD", Q.marker, math.floor(tonumber(first[2]) / DELAY_SHIFT), "1")
  end
end

local function delayedScore(dueMs)
  local low = dueMs * DELAY_SHIFT
  local high = low + DELAY_SHIFT - 1
  local last = rcall("ZREVRANGEBYSCORE", Q.delayed, high, low, "WITHSCORES", "LIMIT", 0, 1)
  if last[2] then
    local score = tonumber(last[2]) + 1
    if score > high then score = high end
    return score
  end
  return low
end

local function addToDelayed(jobId, dueMs)
  rcall("ZADD", Q.delayed, delayedScore(dueMs), jobId)
  emit("delayed", "jobId", jobId, "delay", dueMs)
  addDelayMarker()
end

-- Puts a job where it will run: prioritized when it has a priority, else wait (head, or tail for lifo).
local function enqueue(jobId, priority, lifo)
  if priority > 0 then
    local pc = rcall("INCR", Q.pc)
    rcall("ZADD", Q.prioritized, priority * PRIORITY_SHIFT + pc, jobId)
  elseif lifo then
    rcall("RPUSH", Q.wait, jobId)
  else
    rcall("LPUSH", Q.wait, jobId)
  end
  addBaseMarker()
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
local function removeJobKeys(jobId)
  if not isJobId(jobId) then return end
  local jobKey = BASE .. jobId
  local dedup = jobField(jobKey, "deid")
  if dedup then
    local dedupKey = BASE .. "de:" .. dedup
    if rcall("GET", dedupKey) == jobId then rcall("DEL", dedupKey) end
  end
  local keys = {jobKey}
  for _, sub in ipairs(JOB_SUB_KEYS) do keys[#keys + 1] = jobKey .. ":" .. sub end
  rcall("DEL", unpack(keys))
end

-- Finished sets: keepCount < 0 keeps all; keepAge (seconds) > 0 drops older jobs. At most 1000 a call.
local function trimFinished(setKey, keepCount, keepAge, now)
  if keepCount >= 0 then
    local excess = rcall("ZCARD", setKey) - keepCount
    if excess > 0 then
      local ids = rcall("ZRANGE", setKey, 0, math.min(excess, 1000) - 1)
      for _, id in ipairs(ids) do removeJobKeys(id) end
      rcall("ZREMRANGEBYRANK", setKey, 0, #ids - 1)
    end
  end
  if keepAge > 0 then
    local ids = rcall("ZRANGEBYSCORE", setKey, "-inf", now - keepAge * 1000, "LIMIT", 0, 1000)
    if #ids > 0 then
      for _, id in ipairs(ids) do removeJobKeys(id) end
      rcall("ZREM", setKey, unpack(ids))
    end
  end
end

-- A child finished: record it on its parent and release the parent when no dependency is left.
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
  local pq = parent.queueKey .. ":"
  local parentId = tostring(parent.id)
  if rcall("ZREM", pq .. "waiting-children", parentId) == 0 then return end
  local priority = tonumber(rcall("HGET", parentKey, "priority")) or 0
  if priority > 0 then
    local pc = rcall("INCR", pq .. "pc")
    rcall("ZADD", pq .. "prioritized", priority * PRIORITY_SHIFT + pc, parentId)
  else
    rcall("LPUSH", pq .. "wait", parentId)
  end
  if rcall("HEXISTS", pq .. "meta", "paused") == 0 then rcall("ZADD", pq .. "marker", 0, "0") end
  local pmax = tonumber(rcall("HGET", pq .. "meta", "opts.maxLenEvents")) or 10000
  rcall("XADD", pq .. "events", "MAXLEN", "~", pmax, "*", "event", "waiting", "jobId", parentId,
    "prev", "waiting-children")
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
local function failJob(jobId, reason, now, keepCount, keepAge, attempts)
  local jobKey = BASE .. jobId
  -- A broken attempts counter counts as every attempt used.
  local atm = bump(jobKey, "atm", 1) or attempts
  rcall("HSET", jobKey, "failedReason", reason, "finishedOn", now)
  rcall("HDEL", jobKey, "defa")
  emit("failed", "jobId", jobId, "failedReason", reason, "prev", "active")
  if atm >= attempts then
    emit("retries-exhausted", "jobId", jobId, "attemptsMade", atm)
  end
  if keepCount == 0 then
    removeJobKeys(jobId)
  else
    rcall("ZADD", Q.failed, now, jobId)
    trimFinished(Q.failed, keepCount, keepAge, now)
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

local function jobState(jobId)
  if listedIn("ZSCORE", Q.completed, jobId) then return "completed" end
  if listedIn("ZSCORE", Q.failed, jobId) then return "failed" end
  if listedIn("ZSCORE", Q.delayed, jobId) then return "delayed" end
  if listedIn("ZSCORE", Q.prioritized, jobId) then return "prioritized" end
  if listedIn("ZSCORE", Q.waitingChildren, jobId) then return "waiting-children" end
  if listedIn("LPOS", Q.active, jobId) then return "active" end
  if listedIn("LPOS", Q.wait, jobId) then return "waiting" end
  if listedIn("LPOS", Q.paused, jobId) then return "paused" end
  return "unknown"
end
