--[[
  Finishes a batch of a worker's active jobs, then fetches up to `count` new ones, in one call.
  Each job is checked against its own lock token before anything is written for it.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1..9] as fetch_jobs.lua (base, now, count, lock ms, token prefix, first serial, worker name,
             limiter max, limiter duration ms)
  ARGV[10]   number of finished jobs N, followed by N groups of 8 values:
             jobId, token, kind, a, b, c, d, e
             kind "c" completed:     a = returnvalue JSON, b = keep count (-1 all), c = keep age (s)
             kind "f" failed:        a = reason, b = stacktrace JSON, c = keep count, d = keep age,
                                     e = attempts allowed
             kind "r" retry later:   a = reason, b = stacktrace JSON, c = delay ms (0 = wait at once)
  Returns {codes, fetched}: codes[i] is 0 when job i was finished, 1 when it had already been finished
  (its lock is gone and it is in completed, or failed, as this call would have left it), -1 when its
  hash is gone (or its key is no longer a hash), -2 when its lock is missing, -6 when the lock belongs
  to another token;
  fetched as fetchJobs in _fetch.lua.
]]
--@include _fetch

local now = tonumber(ARGV[2])
local n = tonumber(ARGV[10])
local codes = {}

for i = 0, n - 1 do
  local at = 11 + i * 8
  local jobId, token, kind = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local jobKey = BASE .. jobId
  local lockKey = jobKey .. ":lock"
  local holder = rcall("GET", lockKey)
  local code = 0
  if jobKeyType(jobKey) ~= "hash" then
    code = -1
  elseif not holder then
    -- Either the lock ran out, or an earlier try of this same call finished the job and its reply was
    -- lost: a job already in the set this call would put it in is settled, not lost.
    local settled = (kind == "c" and rcall("ZSCORE", Q.completed, jobId))
      or (kind == "f" and rcall("ZSCORE", Q.failed, jobId))
    if settled then
      code = 1
    else
      code = -2
    end
  elseif holder ~= token then
    code = -6
  end
  if code == 0 then
    rcall("DEL", lockKey)
    rcall("LREM", Q.active, -1, jobId)
    rcall("SREM", Q.stalled, jobId)
    if kind == "c" then
      local returnvalue = ARGV[at + 3]
      bump(jobKey, "atm", 1)
      rcall("HSET", jobKey, "returnvalue", returnvalue, "finishedOn", now)
      emit("completed", "jobId", jobId, "returnvalue", returnvalue, "prev", "active")
      settleParent(jobKey, returnvalue)
      local keepCount, keepAge = tonumber(ARGV[at + 4]), tonumber(ARGV[at + 5])
      if keepCount == 0 then
        removeJobKeys(jobId)
      else
        rcall("ZADD", Q.completed, now, jobId)
        trimFinished(Q.completed, keepCount, keepAge, now)
      end
    elseif kind == "f" then
      rcall("HSET", jobKey, "stacktrace", ARGV[at + 4])
      failJob(jobId, ARGV[at + 3], now, tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6]), tonumber(ARGV[at + 7]))
    else
      local delay = tonumber(ARGV[at + 5])
      bump(jobKey, "atm", 1)
      rcall("HSET", jobKey, "failedReason", ARGV[at + 3], "stacktrace", ARGV[at + 4])
      if delay > 0 then
        rcall("HSET", jobKey, "delay", delay)
        addToDelayed(jobId, now + delay)
      else
        enqueue(jobId, jobPriority(jobKey), jobIsLifo(jobKey))
        emit("waiting", "jobId", jobId, "prev", "active")
      end
    end
  end
  codes[#codes + 1] = code
end

local fetched = fetchJobs(now, tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]), ARGV[7],
  tonumber(ARGV[8]), tonumber(ARGV[9]))
return {codes, fetched}
