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
  Returns: {codes, fetched}: codes[i] is what became of job i: FINISHED; FINISHED_EARLIER (its lock is
  gone and it is in completed, or failed, as this call would have left it: an earlier try of this call
  finished it); JOB_NOT_FOUND (its hash is gone, or its key is no longer a hash); JOB_LOCK_MISSING (its
  lock is gone); JOB_LOCK_MISMATCH (the lock belongs to another token). fetched as fetchJobs in _fetch.lua.
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
local deadLetters = nil
if ARGV[11 + n * 8] and ARGV[11 + n * 8] ~= "" then deadLetters = queueKeys(ARGV[11 + n * 8]) end
local metricPoints = tonumber(ARGV[12 + n * 8]) or 0

for i = 0, n - 1 do
  local at = 11 + i * 8
  local jobId, token, kind = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local jobKey = Q.base .. jobId
  local lockKey = jobKey .. ":lock"
  local holder = rcall("GET", lockKey)
  local code = FINISHED
  if jobKeyType(jobKey) ~= "hash" then
    code = JOB_NOT_FOUND
  elseif not holder then
    -- Either the lock ran out, or an earlier try of this same call finished the job and its reply was
    -- lost: a job already in the set this call would put it in is settled, not lost.
    local settled = (kind == "c" and rcall("ZSCORE", Q.completed, jobId))
      or (kind == "f" and rcall("ZSCORE", Q.failed, jobId))
    if settled then
      code = FINISHED_EARLIER
    else
      code = JOB_LOCK_MISSING
    end
  elseif holder ~= token then
    code = JOB_LOCK_MISMATCH
  end
  if code == FINISHED then
    rcall("DEL", lockKey)
    rcall("LREM", Q.active, -1, jobId)
    rcall("SREM", Q.stalled, jobId)
    if kind == "c" then
      local returnvalue = ARGV[at + 3]
      finishDedup(Q, jobId, now)
      bump(jobKey, "atm", 1)
      rcall("HSET", jobKey, "returnvalue", returnvalue, "finishedOn", now)
      emit(Q, "completed", "jobId", jobId, "returnvalue", returnvalue, "prev", "active")
      settleParent(jobKey, returnvalue, now)
      local keepCount, keepAge = tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5])
      if keepCount == 0 then
        removeJobKeys(Q, jobId)
      else
        rcall("ZADD", Q.completed, now, jobId)
        trimFinished(Q, Q.completed, keepCount, keepAge, now)
      end
      if metricPoints > 0 then collectMetrics(Q, "completed", metricPoints, now) end
    elseif kind == "f" then
      rcall("HSET", jobKey, "stacktrace", ARGV[at + 4])
      local onFailed = nil
      if deadLetters then
        onFailed = function(_, attemptsMade) deadLetter(Q, jobId, deadLetters, now, attemptsMade) end
      end
      failJob(Q, jobId, ARGV[at + 3], now, tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6]), tonumber(ARGV[at + 7]),
        onFailed)
      if metricPoints > 0 then collectMetrics(Q, "failed", metricPoints, now) end
    else
      local delay = tonumber(ARGV[at + 5])
      bump(jobKey, "atm", 1)
      rcall("HSET", jobKey, "failedReason", ARGV[at + 3], "stacktrace", ARGV[at + 4])
      if delay > 0 then
        rcall("HSET", jobKey, "delay", delay)
        addToDelayed(Q, jobId, now + delay)
      else
        requeue(Q, jobId)
        emit(Q, "waiting", "jobId", jobId, "prev", "active")
      end
    end
  end
  codes[#codes + 1] = code
end

local onDead = nil
if deadLetters then
  onDead = function(jobId, attemptsMade) deadLetter(Q, jobId, deadLetters, now, attemptsMade) end
end
local fetched = fetchJobs(Q, now, tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7],
  tonumber(ARGV[8]), tonumber(ARGV[9]), onDead)
return {codes, fetched}
