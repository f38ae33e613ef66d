--[[
  Adds a chunk of jobs in one call: each as add_job.lua would add it (addJob in _add.lua), in order, so
  that the call writes what the same adds made one call each would write (job hashes, states, events,
  counters). ops.add_bulk bounds a chunk (jobs and characters) so that one call keeps Redis busy briefly.
  A script error (a key of another type, written by another program) stops the call at that add: Redis
  keeps what was written before it (the adds before, and what the failing add wrote, as add_job.lua would
  leave it), and none of the adds after it runs.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base     ARGV[2] library version written to meta
  ARGV[3..] one group of 9 values per job:
          custom job id or "", name, data JSON, opts JSON, timestamp (ms), delay (ms), priority,
          "1" for lifo, deduplication id or "" (its options are opts.de)
  Returns: {jobId, created, jobId, created, ...}, a pair per job in the order given: created is 1 when
  the job was written, 0 when its id existed or the add was deduplicated (jobId is then the holder's).
  Events: those of add_job.lua, for each add in turn.
]]
--@include _dedup
--@include _add
local GROUP = 9
local version = ARGV[2]
local out = {}
for at = 3, #ARGV, GROUP do
  local jobId, created = addJob(Q, ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3], tonumber(ARGV[at + 4]),
    tonumber(ARGV[at + 5]), tonumber(ARGV[at + 6]), ARGV[at + 7] == "1", ARGV[at + 8], version)
  out[#out + 1] = jobId
  out[#out + 1] = created and 1 or 0
end
return out
