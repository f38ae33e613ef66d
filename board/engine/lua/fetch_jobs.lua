--[[
  Moves up to `count` runnable jobs to active for one worker, each with its own lock.
  Due delayed jobs are promoted first; the queue's pause flag, global concurrency and rate limit hold.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base            ARGV[2] now (ms)          ARGV[3] count
  ARGV[4] lock duration (ms)  ARGV[5] token prefix      ARGV[6] first token serial
  ARGV[7] worker name or ""   ARGV[8] limiter max (0 = queue's own, if any)
  ARGV[9] limiter duration (ms)
  Returns: see fetchJobs in _fetch.lua.
  Events: waiting (prev delayed), active, drained, failed, retries-exhausted (see fetchJobs in _fetch.lua).
]]
--@include _fetch
return fetchJobs(Q, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6]),
  ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]))
