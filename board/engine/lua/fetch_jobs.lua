--[[
  Moves up to `count` runnable jobs to active for one worker, each with its own lock.
  Due delayed jobs are promoted first; the queue's pause flag, global concurrency and rate limit hold.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base            ARGV[2] now (ms)          ARGV[3] count
  ARGV[4] lock duration (ms)  ARGV[5] token prefix      ARGV[6] first token serial
  ARGV[7] worker name or ""   ARGV[8] limiter max (0 = queue's own, if any)
  ARGV[9] limiter duration (ms)  ARGV[10] (optional) the dead-letter queue's key base, or "": a job
  failed here (stalled too often, a counter written badly) is copied there as finish_jobs.lua does
  (unless its keys have another type: the failed reason then says so)
  Returns: {status, jobs, extra, runs}: see fetchJobs in _fetch.lua.
  Events: waiting (prev delayed), active, drained, failed, retries-exhausted (see fetchJobs in _fetch.lua);
  added and failed on the dead-letter queue.
]]
--@include _fetch
--@include _dead
local now = tonumber(ARGV[2])
local dead = nil
if ARGV[10] and ARGV[10] ~= "" then dead = {keys = queueKeys(ARGV[10]), copy = deadLetter} end
return fetchJobs(Q, now, tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]),
  ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), dead)
