--[[
  Finishes a batch of a worker's active jobs, then fetches up to `count` new ones, in one call.
  Each job is checked against its own lock token before anything is written for it.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1..9] as fetch_jobs.lua (base, now, count, lock ms, token prefix, first serial, worker name,
             limiter max, limiter duration ms)
  ARGV[10]   number of finished jobs N, followed by N groups of 8 values:
             jobId, token, kind, a, b, c, d, e
             kind "c" completed:     a = returnvalue JSON, b = keep count (-1 all), c = keep age (s)
             kind "f" failed:        a = reason, b = stacktrace JSON, c = keep count, d = keep age,
                                     e = attempts allowed
             kind "r" retry later:   a = reason, b = stacktrace JSON, c = delay ms (0 = wait at once)
  ARGV[11 + N * 8] (optional) the key base of the dead-letter queue, or "": a job failed for good is
             copied there as a failed job (see _dead.lua) before its own removal policy applies.
  ARGV[12 + N * 8] (optional) the most minutes of job metrics to keep (BullMQ's maxDataPoints), or 0
             for none: each job completed or failed is counted (see _metrics.lua).
  Returns: {codes, fetched}: codes[i] is what became of job i: FINISHED; FINISHED_AS_FAILED (a completed
  job whose completion could not be written whole, see complete below: failed instead, with a reason
  naming the key); FINISHED_EARLIER (its lock is gone and it is in completed, or failed, as this call
  would have left it: an earlier try of this call finished it); JOB_NOT_FOUND (its hash is gone, or its
  key is no longer a hash); JOB_LOCK_MISSING (its lock is gone); JOB_LOCK_MISMATCH (the lock belongs to
  another token). fetched as fetchJobs in _fetch.lua. A key that stored data names (a parent's, a
  deduplication id's) or the dead-letter queue's, of another type, fails that job alone or leaves
  that link as it is, saying so in its failed reason: the call itself does not fail on it.
  Events: completed, failed, retries-exhausted, delayed, waiting (prev active) for the finished jobs;
  added, waiting or delayed for the job kept for later by a deduplication id (keepLastIfActive) that a
  finished job released; waiting (prev waiting-children) or delayed on a parent's queue when its last
  child completed, or a child failed with an option that releases it (see childFailed in _lib.lua);
  added and failed on the dead-letter queue; those of fetchJobs.
]]
--@include _fetch
--@include _dead
--@include _metrics

local now = tonumber(ARGV[2])
local n = tonumber(ARGV[10])
local codes = {}
local dead = nil
if ARGV[11 + n * 8] and ARGV[11 + n * 8] ~= "" then dead = {keys = queueKeys(ARGV[11 + n * 8]), copy = deadLetter} end
local metricPoints = tonumber(ARGV[12 + n * 8]) or 0

local function countMetric(kind)
  if metricPoints > 0 then collectMetrics(Q, kind, metricPoints, now) end
end

-- What becomes of job jobId, from its hash and lock alone, before anything is written for it.
local function lockCode(jobId, token, kind)
  local jobKey = Q.base .. jobId
  local holder = rcall("GET", jobKey .. ":lock")
  if jobKeyType(jobKey) ~= "hash" then return JOB_NOT_FOUND end
  if not holder then
    -- Either the lock ran out, or an earlier try of this same call finished the job and its reply was
    -- lost: a job already in the set this call would put it in is settled, not lost.
    local settled = (kind == "c" and rcall("ZSCORE", Q.completed, jobId))
      or (kind == "f" and rcall("ZSCORE", Q.failed, jobId))
    if settled then return FINISHED_EARLIER end
    return JOB_LOCK_MISSING
  end
  if holder ~= token then return JOB_LOCK_MISMATCH end
  return FINISHED
end

-- Why job jobKey cannot be completed whole, or nil: a key its completion writes (its deduplication
-- keys, its parent's) has another type, or its parentKey names no job under this queue's prefix, or one in
-- another hash slot of a cluster.
-- dedup and parentKey: its deid and parentKey fields, false when it has none.
local function completionProblem(jobKey, dedup, parentKey)
  local problem = dedup and dedupProblem(Q, dedup)
  if problem then return problem end
  if not parentKey then return nil end
  local pq, parentId, elsewhere = parentOf(jobKey)
  if elsewhere then return "its parent " .. shown(parentKey) .. " is " .. elsewhere end
  if not pq then return "its parentKey " .. shown(parentKey) .. " names no job of a queue under this prefix" end
  return settleProblem(pq, parentId, jobKey)
end

-- Completes a job: into completed first, then its links, so that no error can leave it out of every
-- state. A job whose completion cannot be written whole fails instead, with a reason naming the key:
-- its links stay as they are, and it can be retried once that key is put right.
local function complete(jobId, returnvalue, keepCount, keepAge)
  local jobKey = Q.base .. jobId
  -- Its links, read once (lockCode found the key a hash).
  local links = rcall("HMGET", jobKey, "deid", "parentKey")
  local dedup, parentKey = links[1], links[2]
  local problem = completionProblem(jobKey, dedup, parentKey)
  if problem then
    local opts = jobField(jobKey, "opts")
    local failCount, failAge = keepPolicy(opts, "removeOnFail")
    failJob(Q, jobId, "its result could not be saved: " .. problem, now, failCount, failAge, optAttempts(opts), dead)
    countMetric("failed")
    return FINISHED_AS_FAILED
  end
  bump(jobKey, "atm", 1)
  rcall("HSET", jobKey, "returnvalue", returnvalue, "finishedOn", now)
  rcall("ZADD", Q.completed, now, jobId)
  if dedup then finishDedup(Q, jobId, dedup, now) end
  emit(Q, "completed", "jobId", jobId, "returnvalue", returnvalue, "prev", "active")
  if parentKey then settleParent(jobKey, returnvalue, now) end
  if keepCount == 0 then
    rcall("ZREM", Q.completed, jobId)
    removeJobKeys(Q, jobId)
  else
    trimFinished(Q, Q.completed, keepCount, keepAge, now)
  end
  countMetric("completed")
  return FINISHED
end

local function retryLater(jobId, reason, stacktrace, delay)
  local jobKey = Q.base .. jobId
  bump(jobKey, "atm", 1)
  rcall("HSET", jobKey, "failedReason", reason, "stacktrace", stacktrace)
  if delay > 0 then
    rcall("HSET", jobKey, "delay", delay)
    addToDelayed(Q, jobId, now + delay)
  else
    requeue(Q, jobId)
    emit(Q, "waiting", "jobId", jobId, "prev", "active")
  end
end

for i = 0, n - 1 do
  local at = 11 + i * 8
  local jobId, token, kind = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local code = lockCode(jobId, token, kind)
  if code == FINISHED then
    rcall("DEL", Q.base .. jobId .. ":lock")
    rcall("LREM", Q.active, -1, jobId)
    rcall("SREM", Q.stalled, jobId)
    if kind == "c" then
      code = complete(jobId, ARGV[at + 3], tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5]))
    elseif kind == "f" then
      rcall("HSET", Q.base .. jobId, "stacktrace", ARGV[at + 4])
      failJob(Q, jobId, ARGV[at + 3], now, tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6]), tonumber(ARGV[at + 7]),
        dead)
      countMetric("failed")
    else
      retryLater(jobId, ARGV[at + 3], ARGV[at + 4], tonumber(ARGV[at + 5]))
    end
  end
  codes[#codes + 1] = code
end

local fetched = fetchJobs(Q, now, tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7],
  tonumber(ARGV[8]), tonumber(ARGV[9]), dead)
return {codes, fetched}
