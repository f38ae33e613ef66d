--[[
  Promotes delayed jobs so that they run now: one job by id, or the `count` due soonest.

  KEYS: the queue keys (see _lib.lua)
  ARGV[1] key base   ARGV[2] jobId, or "" for a batch   ARGV[3] batch size
  Returns for one job: 1 promoted, -1 no such job (or its key is not a job hash), -3 not delayed.
  For a batch: {promoted in this call, delayed jobs left}.
]]
local function promote(jobId)
  rcall("ZREM", Q.delayed, jobId)
  local jobKey = BASE .. jobId
  -- pcall: a delayed id whose key is not a job hash still leaves delayed; a worker drops it.
  redis.pcall("HSET", jobKey, "delay", 0)
  enqueue(jobId, jobPriority(jobKey), jobIsLifo(jobKey))
  emit("waiting", "jobId", jobId, "prev", "delayed")
end

if ARGV[2] ~= "" then
  local jobId = ARGV[2]
  if jobKeyType(BASE .. jobId) ~= "hash" then return -1 end
  if not rcall("ZSCORE", Q.delayed, jobId) then return -3 end
  promote(jobId)
  return 1
end

local ids = rcall("ZRANGE", Q.delayed, 0, tonumber(ARGV[3]) - 1)
for _, jobId in ipairs(ids) do promote(jobId) end
return {#ids, rcall("ZCARD", Q.delayed)}
