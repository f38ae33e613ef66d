--[[
  Empties the jobs that have not started, a bounded batch per call: wait, prioritized and, if asked,
  delayed. Active, completed and failed jobs stay, and so does a job scheduler's current next run, as in
  BullMQ's drain: without it the scheduler would never run again.

  Each source is taken from the end its oldest jobs are at (the tail of a list, the lowest scores of a
  sorted set). The scheduler runs a call keeps stay at that end, and the next call starts past them: the
  count of runs kept in each source goes back and forth with the calls.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] "1" to include delayed   ARGV[3] batch size
  ARGV[4..7] the scheduler runs kept so far at the oldest end of wait, paused, prioritized and delayed, as
  the call before returned them (0 on the first call)
  Returns: {the number of such jobs left (0 = done), then ARGV[4..7] for the next call}.
  Events: waiting (prev waiting-children) on a parent's queue when a removed job was the last child the
  parent waited for (a parent in this queue is removed with it instead, as BullMQ's drain does).
]]
--@include _remove
local batch = tonumber(ARGV[3])
-- Not a job id (isJobId refuses ':' outside a scheduler run), so no entry of a list can be taken for it.
local GONE = "board:drained:"
local sources = {{Q.wait, true}, {Q.paused, true}, {Q.prioritized, false}}
if ARGV[2] == "1" then sources[#sources + 1] = {Q.delayed, false} end

-- Removes the non-run ids of a window read from a list's tail side, ending `skip` entries before the
-- tail: each becomes a marker, then one LREM from the tail takes the markers out. Plain LTRIM when the
-- window is the whole tail and keeps nothing.
local function dropFromList(key, ids, skip, kept)
  if skip == 0 and #kept == 0 then
    rcall("LTRIM", key, 0, -#ids - 1)
    return
  end
  local marked = 0
  for i, jobId in ipairs(ids) do
    if not kept[jobId] then
      rcall("LSET", key, -skip - 1 - (#ids - i), GONE)
      marked = marked + 1
    end
  end
  if marked > 0 then rcall("LREM", key, -marked, GONE) end
end

local skips, left = {}, 0
for i, source in ipairs(sources) do
  local key, isList = source[1], source[2]
  local skip = tonumber(ARGV[3 + i]) or 0
  if batch > 0 then
    local ids
    if isList then
      ids = rcall("LRANGE", key, -skip - batch, -skip - 1)
    else
      ids = rcall("ZRANGE", key, skip, skip + batch - 1)
    end
    local kept, removed = {}, {}
    for _, jobId in ipairs(ids) do
      if isSchedulerRun(Q, jobId) then
        kept[jobId] = true
        kept[#kept + 1] = jobId
      else
        removed[#removed + 1] = jobId
      end
    end
    if isList then
      if #ids > 0 then dropFromList(key, ids, skip, kept) end
    elseif #removed > 0 then
      rcall("ZREM", key, unpack(removed))
    end
    for _, jobId in ipairs(removed) do dropJob(Q, jobId, true) end
    skip = skip + #kept
    batch = batch - #ids
  end
  skips[i] = skip
  left = left + (isList and rcall("LLEN", key) or rcall("ZCARD", key)) - skip
end
if left == 0 then
  -- Only what is empty loses its markers: a scheduler run kept in wait or delayed still wakes a worker.
  if rcall("LLEN", Q.wait) + rcall("LLEN", Q.paused) + rcall("ZCARD", Q.prioritized) == 0 then
    rcall("DEL", Q.pc)
    rcall("ZREM", Q.marker, "0")
  end
  if ARGV[2] == "1" and rcall("ZCARD", Q.delayed) == 0 then rcall("ZREM", Q.marker, "1") end
end
local reply = {left}
for i = 1, 4 do reply[#reply + 1] = skips[i] or tonumber(ARGV[3 + i]) or 0 end
return reply
