--[[
  Dead letters, shared by finish_jobs.lua (a job failed for good is copied to its worker's dead-letter
  queue, in the call that fails it) and reprocess_job.lua / retry_jobs.lua (retrying a dead letter sends
  it back to the queue it came from).

  A dead letter is a job in the failed set of its dead-letter queue (same prefix): the failed job's
  name, data, opts, timestamp, delay, priority, failedReason, stacktrace, atm, ats, processedOn and pb,
  finishedOn = when it failed, and one more key at the end of opts, which the board reads as it is:
    "deadLetter": {"queue": <origin queue name>, "jobId": <origin id>, "attemptsMade": n, "failedOn": ms}
  Its id is the origin's when that id is free in the dead-letter queue, else the next free one of its
  counter. Links that belong to the origin queue (parentKey, parent, rjk, deid) are not copied.
]]

local DEAD_COPIED = {"name", "data", "timestamp", "delay", "priority", "failedReason", "stacktrace", "atm", "ats",
  "processedOn", "pb"}

-- "<prefix>:<queue>:" -> prefix, queue.
local function splitBase(base)
  return string.match(base, "^(.+):([^:]+):$")
end

-- opts JSON without the deadLetter key this file appends as its last one (decoded and encoded again
-- only when another program moved it elsewhere).
local function withoutDeadLetter(opts)
  if not string.find(opts, '"deadLetter"', 1, true) then return opts end
  if string.match(opts, '^{"deadLetter":%b{}}$') then return "{}" end
  local head = string.match(opts, '^(.*),"deadLetter":%b{}}$')
  if head then return head .. "}" end
  local ok, decoded = pcall(cjson.decode, opts)
  if not ok or type(decoded) ~= "table" then return opts end
  decoded.deadLetter = nil
  return cjson.encode(decoded)
end

local function withDeadLetter(opts, mark)
  local ok, decoded = pcall(cjson.decode, opts)
  if not ok or type(decoded) ~= "table" or string.sub(opts, 1, 1) ~= "{" or string.sub(opts, -1) ~= "}" then
    opts = "{}"
  end
  opts = withoutDeadLetter(opts)
  if opts == "{}" then return '{"deadLetter":' .. mark .. "}" end
  return string.sub(opts, 1, -2) .. ',"deadLetter":' .. mark .. "}"
end

-- Copies job jobId of q, just failed for good after attemptsMade attempts, into dead-letter queue dlq.
-- Events, on dlq: added, failed.
local function deadLetter(q, jobId, dlq, now, attemptsMade)
  local jobKey = q.base .. jobId
  local _, origin = splitBase(q.base)
  local values = rcall("HMGET", jobKey, unpack(DEAD_COPIED))
  local fields = {}
  for i, field in ipairs(DEAD_COPIED) do
    if values[i] then
      fields[#fields + 1] = field
      fields[#fields + 1] = values[i]
    end
  end
  local mark = '{"queue":' .. cjson.encode(origin) .. ',"jobId":' .. cjson.encode(jobId) .. ',"attemptsMade":'
    .. string.format("%d", attemptsMade) .. ',"failedOn":' .. string.format("%d", now) .. "}"
  local id = freeJobId(dlq, jobId)
  initMaxEvents(dlq)
  rcall("HSET", dlq.base .. id, "opts", withDeadLetter(jobField(jobKey, "opts") or "{}", mark), "finishedOn", now,
    unpack(fields))
  rcall("ZADD", dlq.failed, now, id)
  emit(dlq, "added", "jobId", id, "name", values[1] or "")
  emit(dlq, "failed", "jobId", id, "failedReason", values[6] or "")
end

-- Where a dead letter came from: the origin queue's keys and the origin id; nil when the job is not a
-- dead letter, or its mark names no job id, or no existing queue of this prefix (its meta key) other
-- than this one whose keys can take the job back (on a cluster, in this queue's hash slot). Another
-- program may have written any mark: it can send a job back only to a queue that exists under this
-- prefix, never create one or reach further.
local function deadLetterOrigin(q, jobKey)
  local opts = jobField(jobKey, "opts")
  if not opts or not string.find(opts, '"deadLetter"', 1, true) then return nil end
  local ok, decoded = pcall(cjson.decode, opts)
  if not ok or type(decoded) ~= "table" or type(decoded.deadLetter) ~= "table" then return nil end
  local queue, originId = decoded.deadLetter.queue, decoded.deadLetter.jobId
  if type(originId) == "number" then originId = string.format("%d", originId) end
  if type(queue) ~= "string" or queue == "" or string.find(queue, ":", 1, true) then return nil end
  if type(originId) ~= "string" or not isJobId(originId) then return nil end
  local prefix = splitBase(q.base)
  local oq = queueKeys(prefix .. ":" .. queue .. ":")
  if oq.base == q.base or not reachable(oq.base) or jobKeyType(oq.meta) ~= "hash" then return nil end
  if counterKeyProblem(oq.id) or queueProblem(oq) then return nil end
  return oq, originId, queue
end

-- Sends dead letter jobId of q back to origin queue oq: the original job (originId) is retried in place
-- when it is still in oq's failed set; otherwise the dead letter is added to oq again, under originId
-- when that id is free there, else under a new one, with its name, data and opts (without deadLetter).
-- Then the dead letter leaves q.
-- Events: on oq, waiting (prev failed) for a job retried in place, else added and waiting; on q,
-- removed (prev failed).
local function sendBack(q, jobId, oq, originId, resetAttempts, now)
  local jobKey = q.base .. jobId
  local originKey = oq.base .. originId
  if jobKeyType(originKey) == "hash" and rcall("ZREM", oq.failed, originId) == 1 then
    rcall("HDEL", originKey, "finishedOn", "processedOn", "failedReason")
    if resetAttempts then rcall("HDEL", originKey, "atm", "ats") end
    requeue(oq, originId)
    childBackToParent(originKey, "failed")
    emit(oq, "waiting", "jobId", originId, "prev", "failed")
  else
    local id = freeJobId(oq, originId)
    local f = rcall("HMGET", jobKey, "name", "data", "opts")
    local priority, lifo = jobPriority(jobKey), jobIsLifo(jobKey)
    initMaxEvents(oq)
    storeJob(oq, id, f[1] or "", f[2] or "{}", withoutDeadLetter(f[3] or "{}"), now, 0, priority, {})
    placeNewJob(oq, id, now, 0, priority, lifo)
  end
  rcall("ZREM", q.failed, jobId)
  removeJobKeys(q, jobId)
  emit(q, "removed", "jobId", jobId, "prev", "failed")
end
