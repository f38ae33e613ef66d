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
  Returns: {codes, fetched}: codes[i] is what became of job i: FINISHED; FINISHED_EARLIER (its lock is
  gone and it is in completed, or failed, as this call would have left it: an earlier try of this call
  finished it); JOB_NOT_FOUND (its hash is gone, or its key is no longer a hash); JOB_LOCK_MISSING (its
  lock is gone); JOB_LOCK_MISMATCH (the lock belongs to another token). fetched as fetchJobs in _fetch.lua.
  Events: completed, failed, retries-exhausted, delayed, waiting (prev active) for the finished jobs;
  waiting (prev waiting-children) on a parent's queue when its last child completed; those of fetchJobs.
]]
--@include _fetch

local now = tonumber(ARGV[2])
local n = tonumber(ARGV[10])
local codes = {}

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
      bump(jobKey, "atm", 1)
      rcall("HSET", jobKey, "returnvalue", returnvalue, "finishedOn", now)
      emit(Q, "completed", "jobId", jobId, "returnvalue", returnvalue, "prev", "active")
      settleParent(jobKey, returnvalue)
      local keepCount, keepAge = tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5])
      if keepCount == 0 then
        removeJobKeys(Q, jobId)
      else
        rcall("ZADD", Q.completed, now, jobId)
        trimFinished(Q, Q.completed, keepCount, keepAge, now)
      end
    elseif kind == "f" then
      rcall("HSET", jobKey, "stacktrace", ARGV[at + 4])
      failJob(Q, jobId, ARGV[at + 3], now, tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6]), tonumber(ARGV[at + 7]))
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

local fetched = fetchJobs(Q, now, tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7],
  tonumber(ARGV[8]), tonumber(ARGV[9]))
return {codes, fetched}
