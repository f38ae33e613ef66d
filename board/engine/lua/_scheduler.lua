--[[
  Job scheduler helpers, included by the scheduler scripts (--@include _scheduler).

  A scheduler lives in two keys under the queue's base, as BullMQ 6 writes them: the "repeat" sorted set
  (member: the scheduler id, score: the due time of its next run, ms) and the "repeat:<id>" hash (the
  template and the schedule). Its next run is an ordinary job with the id "repeat:<id>:<due ms>" and the
  field rjk=<id>; a run is the scheduler's current one when the score names it.
]]

-- Refusals of the scheduler scripts, with BullMQ's numbers (enums/error-code.ts); board/engine/codes.py
-- names them in SchedulerCode (a test checks that the two agree).
local SCHEDULER_JOB_ID_COLLISION = -10 -- the next run's id is held by a job that cannot be replaced
local SCHEDULER_JOB_SLOTS_BUSY = -11   -- every slot looked at for an `every` run is held by a job

-- How many later slots an `every` run may move to when its own is held by another job (a finished run
-- kept from an earlier scheduler of the same id).
local EVERY_SLOT_SCANS = 32

local function repeatKey(q)
  return q.base .. "repeat"
end

local function schedulerKey(q, schedulerId)
  return q.base .. "repeat:" .. schedulerId
end

-- Whether "repeat:<id>" can only be this scheduler's hash, so that a script may write or delete it: not
-- for an id with ':' (scheduler_options.py's check_scheduler_id), which only another program makes (Node
-- allows them). Such a key is also another's: "repeat:x:<ms>" is the hash of scheduler "x:<ms>" and
-- of the job of scheduler x's run at <ms>, and "repeat:a:b" the key of job b of a queue named "<q>:repeat:a".
local function ownsSchedulerKey(schedulerId)
  return schedulerId ~= "" and not string.find(schedulerId, ":", 1, true)
end

local function runId(schedulerId, millis)
  return "repeat:" .. schedulerId .. ":" .. string.format("%d", millis)
end

-- The due time of an `every` scheduler's next run and its offset inside the interval (BullMQ's
-- getJobSchedulerEveryNextMillis): the first run at startDate, else at the next slot that keeps the
-- offset, else now; later runs one interval after the previous one, or at the next slot when runs were
-- missed (a worker was down), so that a backlog is never replayed.
local function everyNextMillis(prevMillis, every, now, offset, startDate)
  offset = tonumber(offset)
  startDate = tonumber(startDate)
  local nextMillis
  if not prevMillis then
    if startDate then
      nextMillis = math.max(startDate, now)
    elseif offset and offset > 0 then
      nextMillis = math.floor(now / every) * every + offset
      if nextMillis <= now then nextMillis = nextMillis + every end
    else
      nextMillis = now
    end
  else
    nextMillis = prevMillis + every
    if nextMillis < now then
      local aligned = math.floor(now / every) * every + (offset or 0)
      if aligned <= now then aligned = aligned + every end
      nextMillis = aligned
    end
  end
  if not offset or offset == 0 then
    offset = nextMillis - math.floor(nextMillis / every) * every
  end
  return math.floor(nextMillis), math.floor(offset)
end

-- Where a run waits before it starts, or nil when it has started (active) or finished. Only a run that
-- has not started may be replaced: one that has is owned by the worker running it.
local function pendingState(q, jobId)
  if rcall("ZSCORE", q.delayed, jobId) then return "delayed" end
  if rcall("ZSCORE", q.prioritized, jobId) then return "prioritized" end
  if rcall("LPOS", q.wait, jobId) then return "wait" end
  if rcall("LPOS", q.paused, jobId) then return "paused" end
  return nil
end

-- Removes a run that has not started, with its keys; returns the state it left, or nil.
local function removePending(q, jobId)
  local state = pendingState(q, jobId)
  if state == "delayed" then rcall("ZREM", q.delayed, jobId)
  elseif state == "prioritized" then rcall("ZREM", q.prioritized, jobId)
  elseif state == "wait" then rcall("LREM", q.wait, 0, jobId)
  elseif state == "paused" then rcall("LREM", q.paused, 0, jobId)
  end
  if state then removeJobKeys(q, jobId) end
  return state
end

-- Writes a run's hash and puts it where it waits: delayed when it is due later, else where it runs.
-- optsJson comes without "delay" and "jobId", which are known only here; they are put first.
-- Events: added, then delayed or waiting.
local function addRun(q, schedulerId, jobId, name, data, optsJson, now, delay, priority, lifo)
  local head = '{"delay":' .. string.format("%d", delay) .. ',"jobId":' .. cjson.encode(jobId)
  local opts = head .. (optsJson == "{}" and "}" or ("," .. string.sub(optsJson, 2)))
  rcall("HSET", q.base .. jobId, "name", name, "data", data, "opts", opts, "timestamp", now, "delay", delay,
    "priority", priority, "rjk", schedulerId)
  emit(q, "added", "jobId", jobId, "name", name)
  if delay > 0 then
    addToDelayed(q, jobId, now + delay)
  else
    enqueue(q, jobId, priority, lifo)
    emit(q, "waiting", "jobId", jobId)
  end
end
