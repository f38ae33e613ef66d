--[[
  Fetching jobs for a worker, shared by fetch_jobs.lua and finish_jobs.lua.

  fetchJobs(q, now, count, lockMs, tokenPrefix, tokenStart, workerName, limitMax, limitDurationMs, dead)
  returns {status, jobs, extra, runs}:
    status 0: jobs = {id, token, {hash fields...}, id, token, {...}, ...}; extra = 0
    status 1: rate limited; extra = ms until the limiter window closes
    status 2: nothing to take (empty or paused); extra = due ms of the next delayed job, or 0
    runs: the job schedulers' runs failed here, {id, {rjk, opts and name fields}, ...}, whose schedulers
    still need their next run (as a run taken does, which the worker makes: see fetching.py)
  An id taken whose key is gone or is not a hash (another program's doing) leaves active and is not
  returned; a job whose counters (ats, atm, stc) are not integers is failed with a reason saying so.
  `dead` (optional): the worker's dead-letter queue, as failJob in _lib.lua takes it.
  Events: waiting (prev delayed) for each due delayed job, active (prev waiting) for each job taken,
  drained when it took the last runnable jobs, failed and retries-exhausted for a deferred failure (a
  job that stalled too often, or a flow parent whose child failed with failParentOnFailure), with what
  failJob in _lib.lua writes for its parent and its deduplication id.
]]

local function promoteDueDelayed(q, now)
  local ids = rcall("ZRANGEBYSCORE", q.delayed, 0, (now + 1) * DELAY_SHIFT - 1, "LIMIT", 0, 1000)
  promoteDelayed(q, ids)
end

local function takeOne(q)
  local id = rcall("RPOPLPUSH", q.wait, q.active)
  if id then return id end
  local popped = rcall("ZPOPMIN", q.prioritized)
  if popped[1] then
    rcall("LPUSH", q.active, popped[1])
    return popped[1]
  end
  return nil
end

local function nextDelayedDue(q)
  local first = rcall("ZRANGE", q.delayed, 0, 0, "WITHSCORES")
  if first[2] then return math.floor(tonumber(first[2]) / DELAY_SHIFT) end
  return 0
end

-- A job failed as it was taken (see failTaken): the fields its scheduler's next run is made from, when
-- it is a scheduler's run, added to `runs` as fetchJobs returns them.
local function keepRun(runs, id, fields)
  if not fields[2] then return end
  local flat = {}
  for i, name in ipairs({"opts", "rjk", "name"}) do
    if fields[i] then
      flat[#flat + 1] = name
      flat[#flat + 1] = fields[i]
    end
  end
  runs[#runs + 1] = id
  runs[#runs + 1] = flat
end

-- Fails a taken job with its deferred failure (or a malformed counter) instead of starting it.
local function failTaken(q, id, reason, now, dead, runs)
  local jobKey = q.base .. id
  rcall("LREM", q.active, 1, id)
  local fields = rcall("HMGET", jobKey, "opts", "rjk", "name")
  local keepCount, keepAge = keepPolicy(fields[1], "removeOnFail")
  failJob(q, id, reason, now, keepCount, keepAge, optAttempts(fields[1]), dead)
  keepRun(runs, id, fields)
end

local function fetchJobs(q, now, count, lockMs, tokenPrefix, tokenStart, workerName, limitMax, limitDuration,
    dead)
  -- As BullMQ does, due delayed jobs move to wait even while the queue is paused.
  promoteDueDelayed(q, now)
  if isPaused(q) then
    return {2, {}, 0, {}}
  end
  if count <= 0 then return {0, {}, 0, {}} end

  local concurrency = tonumber(rcall("HGET", q.meta, "concurrency"))
  if concurrency then
    count = math.min(count, concurrency - rcall("LLEN", q.active))
    if count <= 0 then return {2, {}, nextDelayedDue(q), {}} end
  end
  if limitMax <= 0 then
    limitMax = tonumber(rcall("HGET", q.meta, "max")) or 0
    limitDuration = tonumber(rcall("HGET", q.meta, "duration")) or 0
  end
  local used = 0
  if limitMax > 0 then
    used = tonumber(rcall("GET", q.limiter)) or 0
    if used >= limitMax then
      local ttl = rcall("PTTL", q.limiter)
      if ttl <= 0 then
        rcall("DEL", q.limiter)
        used = 0
      else
        return {1, {}, ttl, {}}
      end
    end
    count = math.min(count, limitMax - used)
  end

  local out, runs = {}, {}
  local taken = 0
  local serial = tokenStart
  while taken < count do
    local id = takeOne(q)
    if not id then break end
    local jobKey = q.base .. id
    if jobKeyType(jobKey) ~= "hash" then
      -- The hash is gone (removed by hand), or another program put a key of another type there:
      -- no job to run, drop the dangling id.
      rcall("LREM", q.active, 1, id)
    else
      -- One read for the counters its run counts on and its deferred failure.
      local read = rcall("HMGET", jobKey, "ats", "atm", "stc", "defa")
      local deferred = read[4]
      if not deferred then
        local problem = counterProblem(read)
        if problem then deferred = "job hash is malformed (" .. problem .. ")" end
      end
      if deferred then
        failTaken(q, id, deferred, now, dead, runs)
      else
        local token = tokenPrefix .. ":" .. serial
        serial = serial + 1
        rcall("SET", jobKey .. ":lock", token, "PX", lockMs)
        if workerName ~= "" then
          rcall("HSET", jobKey, "processedOn", now, "pb", workerName)
        else
          rcall("HSET", jobKey, "processedOn", now)
        end
        rcall("HINCRBY", jobKey, "ats", 1)
        emit(q, "active", "jobId", id, "prev", "waiting")
        out[#out + 1] = id
        out[#out + 1] = token
        out[#out + 1] = rcall("HGETALL", jobKey)
        taken = taken + 1
      end
    end
  end

  if limitMax > 0 and taken > 0 then
    if rcall("INCRBY", q.limiter, taken) == taken then
      rcall("PEXPIRE", q.limiter, limitDuration)
    end
  end
  -- Other idle workers block on the marker: leave it set while runnable jobs remain.
  if rcall("LLEN", q.wait) > 0 or rcall("ZCARD", q.prioritized) > 0 then
    rcall("ZADD", q.marker, 0, "0")
  elseif taken > 0 then
    emit(q, "drained")
  end
  if taken == 0 then
    return {2, {}, nextDelayedDue(q), runs}
  end
  return {0, out, 0, runs}
end
