--[[
  Deduplication of adds, included by add_job.lua: BullMQ 6.7's deduplicateJob and the helpers it
  includes (deduplicateJobWithoutReplace, recoverStaleDeduplicationKey, storeDeduplicatedNextJob).

  deduplicate(q, de, jobId, name, data, opts, now, delay) -> the id of the job that keeps the
  deduplication id (the add is dropped), or nil (the add goes ahead and now holds it). `de` is the add's
  opts.de: {id, ttl (ms), extend, replace, keepLastIfActive, reschedule}. The key "<base>de:<id>" holds
  the id of the job that owns the deduplication id, for ttl ms when a ttl is given, else until that job
  finishes or is removed (see finishDedup and dropDedupKey in _lib.lua).
    simple (no ttl)    later adds are dropped while the job lives;
    ttl                later adds are dropped for ttl ms from the first;
    extend             each dropped add starts the ttl again;
    replace            an add replaces the owner while the owner is still delayed (the owner is removed;
                       the ttl goes on unless extend); otherwise it is dropped, without an event;
    keepLastIfActive   an add dropped while the owner runs is kept ("<base>dn:<id>", the latest one only)
                       and becomes a job when the owner finishes; the key then has no ttl;
    reschedule         a dropped add moves a delayed owner to its own delay, counted from now.
]]

-- BullMQ's recoverStaleDeduplicationKey: a key without a ttl whose job is gone (lost to an outage) is
-- stale; the add takes the deduplication id over.
local function recoverStaleDedup(q, key, current, jobId, dedup, de)
  if not current or rcall("PTTL", key) ~= -1 or rcall("EXISTS", q.base .. current) == 1 then return false end
  rcall("DEL", key, q.base .. "dn:" .. dedup)
  if de.keepLastIfActive then rcall("SET", key, jobId) else setDedupKey(key, jobId, de.ttl) end
  return true
end

-- BullMQ's storeDeduplicatedNextJob: with keepLastIfActive, an add dropped while the owner is active is
-- kept to run after it. Events: deduplicated.
local function keepForLater(q, de, current, jobId, dedup, name, data, opts)
  if not de.keepLastIfActive or not current or not listedIn("LPOS", q.active, current) then return false end
  local nextKey = q.base .. "dn:" .. dedup
  rcall("DEL", nextKey)
  rcall("HSET", nextKey, "name", name, "data", data, "opts", opts, "jid", jobId)
  -- The key must not run out while the owner runs, or a later add would slip past it.
  rcall("PERSIST", q.base .. "de:" .. dedup)
  emit(q, "deduplicated", "jobId", current, "deduplicationId", dedup, "deduplicatedJobId", jobId)
  return true
end

-- The add is dropped in favour of `current`. Events: deduplicated.
local function dropped(q, de, current, jobId, dedup, name, data, opts)
  if not keepForLater(q, de, current, jobId, dedup, name, data, opts) then
    emit(q, "deduplicated", "jobId", current, "deduplicationId", dedup, "deduplicatedJobId", jobId)
  end
  return current
end

-- BullMQ's deduplicateJobWithoutReplace.
local function dedupWithoutReplace(q, de, jobId, dedup, name, data, opts)
  local key = q.base .. "de:" .. dedup
  local ttl = tonumber(de.ttl) or 0
  local taken
  if ttl > 0 and de.extend then
    local current = rcall("GET", key)
    if not current then
      if de.keepLastIfActive then rcall("SET", key, jobId) else setDedupKey(key, jobId, ttl) end
      return nil
    end
    if recoverStaleDedup(q, key, current, jobId, dedup, de) then return nil end
    if keepForLater(q, de, current, jobId, dedup, name, data, opts) then return current end
    if de.keepLastIfActive then rcall("SET", key, current) else setDedupKey(key, current, ttl) end
    emit(q, "deduplicated", "jobId", current, "deduplicationId", dedup, "deduplicatedJobId", jobId)
    return current
  elseif ttl > 0 and not de.keepLastIfActive then
    taken = not rcall("SET", key, jobId, "PX", math.floor(ttl), "NX")
  else
    taken = not rcall("SET", key, jobId, "NX")
  end
  if not taken then return nil end
  local current = rcall("GET", key)
  if recoverStaleDedup(q, key, current, jobId, dedup, de) then return nil end
  return dropped(q, de, current, jobId, dedup, name, data, opts)
end

-- replace: the owner, while delayed, is removed and the add takes its place.
-- Events: removed (prev delayed) and deduplicated (the new job, the replaced one's id).
local function dedupReplace(q, de, jobId, dedup, name, data, opts)
  local key = q.base .. "de:" .. dedup
  local current = rcall("GET", key)
  if not current then
    if de.keepLastIfActive then rcall("SET", key, jobId) else setDedupKey(key, jobId, de.ttl) end
    return nil
  end
  if rcall("ZREM", q.delayed, current) == 1 then
    removeJobKeys(q, current)
    emit(q, "removed", "jobId", current, "prev", "delayed")
    emit(q, "deduplicated", "jobId", jobId, "deduplicationId", dedup, "deduplicatedJobId", current)
    rcall("DEL", q.base .. "dn:" .. dedup)
    local ttl = tonumber(de.ttl) or 0
    if de.keepLastIfActive then
      rcall("SET", key, jobId)
    elseif not de.extend and ttl > 0 then
      rcall("SET", key, jobId, "KEEPTTL")
    else
      setDedupKey(key, jobId, ttl)
    end
    return nil
  end
  if recoverStaleDedup(q, key, current, jobId, dedup, de) then return nil end
  -- As BullMQ: an owner that is no longer delayed keeps its place and the add is dropped silently.
  keepForLater(q, de, current, jobId, dedup, name, data, opts)
  return current
end

-- Events: deduplicated, removed (prev delayed), delayed (reschedule).
local function deduplicate(q, de, jobId, name, data, opts, now, delay)
  local dedup = tostring(de.id)
  if de.replace then return dedupReplace(q, de, jobId, dedup, name, data, opts) end
  local current = dedupWithoutReplace(q, de, jobId, dedup, name, data, opts)
  -- `current` is read from de:<id>, where another program may have written any id.
  if current and de.reschedule and isJobId(current) and jobKeyType(q.base .. current) == "hash"
      and rcall("ZSCORE", q.delayed, current) then
    rcall("HSET", q.base .. current, "delay", delay)
    rcall("ZREM", q.delayed, current)
    addToDelayed(q, current, now + delay)
  end
  return current
end
