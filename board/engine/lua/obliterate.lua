--[[
  Deletes the whole queue, a bounded batch of jobs per call; the last call deletes the queue's keys.
  The queue must be paused, and have no active job unless forced.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base   ARGV[2] "1" to force past active jobs   ARGV[3] batch size
  Returns -1 when the queue is not paused, -2 when it has active jobs and force is off,
  1 when more remains (call again), 0 when the queue is gone.
]]
if not isPaused() then return -1 end
if ARGV[2] ~= "1" and rcall("LLEN", Q.active) > 0 then return -2 end
local batch = tonumber(ARGV[3])
for _, key in ipairs({Q.active, Q.wait, Q.paused}) do
  if batch <= 0 then return 1 end
  local ids = rcall("LRANGE", key, -batch, -1)
  if #ids > 0 then
    rcall("LTRIM", key, 0, -#ids - 1)
    for _, jobId in ipairs(ids) do removeJobKeys(jobId) end
    batch = batch - #ids
  end
end
for _, key in ipairs({Q.delayed, Q.prioritized, Q.waitingChildren, Q.completed, Q.failed}) do
  if batch <= 0 then return 1 end
  local ids = rcall("ZRANGE", key, 0, batch - 1)
  if #ids > 0 then
    rcall("ZREMRANGEBYRANK", key, 0, #ids - 1)
    for _, jobId in ipairs(ids) do removeJobKeys(jobId) end
    batch = batch - #ids
  end
end
if batch <= 0 then return 1 end
local queueKeys = {}
for _, key in pairs(Q) do queueKeys[#queueKeys + 1] = key end
rcall("DEL", unpack(queueKeys))
local rest = {BASE .. "repeat", BASE .. "metrics:completed", BASE .. "metrics:completed:data",
  BASE .. "metrics:failed", BASE .. "metrics:failed:data"}
rcall("DEL", unpack(rest))
return 0
