--[[
  Retries finished jobs in bulk, a bounded batch per call: the oldest first, finished before a cutoff.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] "failed" or "completed"   ARGV[3] batch size   ARGV[4] cutoff (ms)
  Returns: {retried in this call, jobs of that state left before the cutoff}.
  Events: waiting (prev failed or completed), for each job retried.
]]
local state = ARGV[2]
local setKey = state == "completed" and Q.completed or Q.failed
local field = state == "completed" and "returnvalue" or "failedReason"
local ids = rcall("ZRANGEBYSCORE", setKey, "-inf", ARGV[4], "LIMIT", 0, tonumber(ARGV[3]))
if #ids > 0 then
  rcall("ZREM", setKey, unpack(ids))
  for _, jobId in ipairs(ids) do
    -- pcall: an id another program listed with a key that is not a hash must not stop the batch.
    redis.pcall("HDEL", Q.base .. jobId, "finishedOn", "processedOn", field)
    requeue(Q, jobId)
    emit(Q, "waiting", "jobId", jobId, "prev", state)
  end
end
return {#ids, rcall("ZCOUNT", setKey, "-inf", ARGV[4])}
