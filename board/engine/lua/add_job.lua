--[[
  Adds one job (addJob in _add.lua). A custom job id that already exists makes the add a no-op that
  returns that id. An add with a deduplication id that another job holds is dropped and returns that
  job's id (see _dedup.lua).

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base     ARGV[2] custom job id or ""   ARGV[3] name        ARGV[4] data JSON
  ARGV[5] opts JSON    ARGV[6] timestamp (ms)        ARGV[7] delay (ms)  ARGV[8] priority
  ARGV[9] "1" for lifo ARGV[10] library version written to meta
  ARGV[11] deduplication id or "" (its options are opts.de)
  Returns: {jobId, 1 when created or 0 when it existed or the add was deduplicated}.
  Events: added, then delayed (with a delay) or waiting; duplicated when the id existed; deduplicated
  (and removed or delayed, see _dedup.lua) when the add was deduplicated.
]]
--@include _dedup
--@include _add
local jobId, created = addJob(Q, ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]),
  tonumber(ARGV[8]), ARGV[9] == "1", ARGV[11], ARGV[10])
return {jobId, created and 1 or 0}
