--[[
  Deletes the whole queue, a bounded batch of jobs per call; the last call deletes the queue's keys.
  The queue must be paused, and have no active job unless forced. Job schedulers go too, each with its
  repeat:<id> hash (as in BullMQ), a batch at a time: a scheduler made again later under the same id
  starts afresh, not from the old one's iteration count.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] "1" to force past active jobs   ARGV[3] batch size
  Returns: 1 when more remains (call again), 0 when the queue is gone; QUEUE_NOT_PAUSED, or
  QUEUE_HAS_ACTIVE_JOBS when force is off.
  Events: none (the last call deletes the events stream with the queue's other keys).
]]
if not isPaused(Q) then return QUEUE_NOT_PAUSED end
if ARGV[2] ~= "1" and rcall("LLEN", Q.active) > 0 then return QUEUE_HAS_ACTIVE_JOBS end
local batch = tonumber(ARGV[3])
for _, key in ipairs({Q.active, Q.wait, Q.paused}) do
  if batch <= 0 then return 1 end
  local ids = rcall("LRANGE", key, -batch, -1)
  if #ids > 0 then
    rcall("LTRIM", key, 0, -#ids - 1)
    for _, jobId in ipairs(ids) do dropDedupKey(Q, jobId) removeJobKeys(Q, jobId) end
    batch = batch - #ids
  end
end
for _, key in ipairs({Q.delayed, Q.prioritized, Q.waitingChildren, Q.completed, Q.failed}) do
  if batch <= 0 then return 1 end
  local ids = rcall("ZRANGE", key, 0, batch - 1)
  if #ids > 0 then
    rcall("ZREMRANGEBYRANK", key, 0, #ids - 1)
    for _, jobId in ipairs(ids) do dropDedupKey(Q, jobId) removeJobKeys(Q, jobId) end
    batch = batch - #ids
  end
end
if batch <= 0 then return 1 end
-- pcall: a "repeat" key of another type holds no scheduler; the last call deletes it all the same.
local schedulers = redis.pcall("ZRANGE", Q.base .. "repeat", 0, batch - 1)
if type(schedulers) == "table" and not schedulers.err and #schedulers > 0 then
  for _, schedulerId in ipairs(schedulers) do rcall("DEL", Q.base .. "repeat:" .. schedulerId) end
  rcall("ZREM", Q.base .. "repeat", unpack(schedulers))
  return 1
end
local keys = {}
for _, key in ipairs(QUEUE_KEYS) do keys[#keys + 1] = Q[key[1]] end
rcall("DEL", unpack(keys))
rcall("DEL", Q.base .. "repeat", Q.base .. "metrics:completed", Q.base .. "metrics:completed:data",
  Q.base .. "metrics:failed", Q.base .. "metrics:failed:data")
return 0
