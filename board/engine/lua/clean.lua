--[[
  Removes jobs of one state that are older than a cutoff, scanning a bounded window per call.
  completed/failed compare finishedOn (their score); other states compare the job's timestamp.
  Active jobs whose lock is held are kept, and so is a job scheduler's current next run, as in BullMQ's
  cleanList and cleanSet: without it the scheduler would never run again.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] state   ARGV[3] cutoff (ms)   ARGV[4] most to remove in this call
  ARGV[5] position to scan from (0 = oldest end)   ARGV[6] most entries to scan in this call
  Returns: {removed ids, next position or -1 when the state has been scanned to its end}.
  Events: cleaned (with the count removed), when it removed any; waiting (prev waiting-children) on a
  parent's queue when a removed job was the last child the parent waited for (a parent in this queue is
  removed with it instead, as BullMQ's cleanSet does).
]]
--@include _remove
local state, cutoff = ARGV[2], tonumber(ARGV[3])
local limit, pos, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local removed = {}

-- The ids were read from the tail side: LREM from the tail finds each within the window scanned, where
-- one from the head would pass over the whole list.
local function dropFromList(key, ids)
  for _, jobId in ipairs(ids) do
    rcall("LREM", key, -1, jobId)
    dropJob(Q, jobId, true)
  end
end

if state == "completed" or state == "failed" then
  local key = state == "completed" and Q.completed or Q.failed
  removed = rcall("ZRANGEBYSCORE", key, "-inf", cutoff, "LIMIT", 0, limit)
  if #removed > 0 then
    rcall("ZREM", key, unpack(removed))
    for _, jobId in ipairs(removed) do dropJob(Q, jobId, true) end
  end
  pos = #removed < limit and -1 or 0
else
  local key, isList = nil, false
  if state == "wait" or state == "waiting" or state == "paused" then key, isList = Q.wait, true
  elseif state == "active" then key, isList = Q.active, true
  elseif state == "delayed" then key = Q.delayed
  elseif state == "prioritized" then key = Q.prioritized
  elseif state == "waiting-children" then key = Q.waitingChildren
  else return redis.error_reply("unknown state " .. state) end

  local ids
  if isList then
    -- Lists hold the oldest at the tail: scan from there.
    ids = rcall("LRANGE", key, -pos - window, -pos - 1)
    local reversed = {}
    for i = #ids, 1, -1 do reversed[#reversed + 1] = ids[i] end
    ids = reversed
  else
    ids = rcall("ZRANGE", key, pos, pos + window - 1)
  end
  local kept = 0
  for _, jobId in ipairs(ids) do
    if #removed >= limit then break end
    local jobKey = Q.base .. jobId
    local ts = tonumber(jobField(jobKey, "timestamp"))
    local locked = rcall("EXISTS", jobKey .. ":lock") == 1
    if (ts == nil or ts <= cutoff) and not locked and not isSchedulerRun(Q, jobId) then
      removed[#removed + 1] = jobId
    else
      kept = kept + 1
    end
  end
  if isList then
    dropFromList(key, removed)
  elseif #removed > 0 then
    rcall("ZREM", key, unpack(removed))
    for _, jobId in ipairs(removed) do dropJob(Q, jobId, true) end
  end
  if #ids < window and #removed < limit then pos = -1 else pos = pos + kept end
end
if #removed > 0 then emit(Q, "cleaned", "count", #removed) end
return {removed, pos}
