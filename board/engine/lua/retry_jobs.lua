--[[
  Retries finished jobs in bulk, a bounded batch per call: the oldest first, finished before a cutoff.
  A flow child is pending for its parent again. A dead letter (see _dead.lua) is sent back to the queue
  it came from instead.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] "failed" or "completed"   ARGV[3] batch size   ARGV[4] cutoff (ms)
  ARGV[5] now (ms)   ARGV[6] "1": only the queues named in ARGV[8..] take dead letters back; the others
  stay here, failed   ARGV[7] jobs to pass over first (the dead letters an earlier call of the same run
  kept: always the oldest left)   ARGV[8..] the queues (names) that may take dead letters back
  Returns: {retried in this call, jobs of that state left before the cutoff, dead letters kept}.
  Events: waiting (prev failed or completed), for each job retried; for a dead letter, removed (prev
  failed) here and, on its origin queue, waiting (prev failed) or added and waiting.
]]
--@include _dead
local state = ARGV[2]
local setKey = state == "completed" and Q.completed or Q.failed
local field = state == "completed" and "returnvalue" or "failedReason"
local now = tonumber(ARGV[5]) or tonumber(ARGV[4])
local limited = ARGV[6] == "1"
local takers = {}
for i = 8, #ARGV do takers[ARGV[i]] = true end
local ids = rcall("ZRANGEBYSCORE", setKey, "-inf", ARGV[4], "LIMIT", tonumber(ARGV[7]) or 0, tonumber(ARGV[3]))
local retried, kept = 0, 0
for _, jobId in ipairs(ids) do
  local origin, originId, originName = nil, nil, nil
  if state == "failed" then origin, originId, originName = deadLetterOrigin(Q, Q.base .. jobId) end
  if origin and limited and not takers[originName] then
    kept = kept + 1
  else
    rcall("ZREM", setKey, jobId)
    retried = retried + 1
    if origin then
      sendBack(Q, jobId, origin, originId, false, now)
    else
      -- pcall: an id another program listed with a key that is not a hash must not stop the batch.
      redis.pcall("HDEL", Q.base .. jobId, "finishedOn", "processedOn", field)
      requeue(Q, jobId)
      if isJobId(jobId) then childBackToParent(Q.base .. jobId, state) end
      emit(Q, "waiting", "jobId", jobId, "prev", state)
    end
  end
end
return {retried, rcall("ZCOUNT", setKey, "-inf", ARGV[4]), kept}
