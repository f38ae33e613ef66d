--[[
  Removes one job from whatever state it is in, with its logs and other sub-keys and, unless asked not
  to, its children in whatever queue (pending, completed or failed, and theirs in turn), as BullMQ's
  removeJob. The current next run of a job scheduler is refused: the scheduler is what to remove. A job
  whose lock is held (a worker is running it), or one of whose pending descendants' is, is left alone. A
  key of another type that another program left under an id listed in one of the queue's states is
  removed the same way, so that an operator can clear it; one that is listed nowhere is not this queue's
  to remove (0). A removed job that was the last child its parent waited for releases the parent to the
  tail of wait (BullMQ's removeParentDependencyKey).

  Children are followed only under this queue's prefix, in a queue whose name holds no ':', by an id that
  can name a job (isJobId), and at most MAX_TREE_DEPTH levels down: any other member of a child set is
  dropped with its parent, not followed. A child's state is found from the sorted sets first; only a job
  that has not finished is looked for in wait, active and paused.

  Each call does a bounded share. A tree that fits in one (at most ARGV[4] jobs and child entries, and
  list searches for its children that pass at most ARGV[5] entries) goes at once, as in BullMQ. A larger
  one goes in steps, each call returning the next: "check" calls look for a held lock among the pending
  descendants, ARGV[4] of them at a time, before anything is removed; then "remove" calls each remove the
  part of the tree that fits, children before their parents, the job last. Entries of the child sets of a
  parent that stays for a later call are dropped as their children go, so that each call starts again
  from the job and finds only what is left. A worker that takes a pending child between two calls stops
  the removal there (JOB_LOCKED); what went before stays removed.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] jobId   ARGV[3] "1" to remove its children too
  ARGV[4] most jobs and child entries to look at in this call (default 1000)
  ARGV[5] most list entries to search for children in this call (default 100000)
  ARGV[6] step: "start" (the default), "check" or "remove", as the call before returned it
  ARGV[7..] for "check": where the last call stopped, as it returned it
  Returns: when the removal is over, how many jobs this call removed (0 on "start": no such job);
  JOB_LOCKED (a worker holds the job's lock, or a pending descendant's), JOB_BELONGS_TO_JOB_SCHEDULER (the
  scheduler's next run); else {jobs this call removed, the next step, where it starts...}, the arguments
  from ARGV[6] on of the next call.
  Events: removed (with the state it left as prev) for each job removed, on its own queue; waiting (prev
  waiting-children) on the parent's queue when the job was the last child its parent waited for.
]]
--@include _remove
local jobId, withChildren = ARGV[2], ARGV[3] == "1"
local jobKey = Q.base .. jobId
local budget = tonumber(ARGV[4]) or 1000
local listBudget = tonumber(ARGV[5]) or 100000
local step = ARGV[6] or "start"
local prefix = keyPrefix(Q)

local function size(command, key)
  local n = redis.pcall(command, key)
  return type(n) == "number" and n or 0
end

-- The child sets of a job: suffix, size command, how to drop a member, and whether its children are
-- pending (only those are checked for locks, as BullMQ's isLocked).
local CHILD_SETS = {{":dependencies", "SCARD", "SREM", true}, {":processed", "HLEN", "HDEL", false},
  {":failed", "HLEN", "HDEL", false}, {":unsuccessful", "ZCARD", "ZREM", false}}

-- Up to n members (fields of a hash), without reading a whole set or the values of a hash.
local function someMembers(command, key, n)
  if command == "SCARD" then return rcall("SRANDMEMBER", key, n) end
  if command == "HLEN" then return rcall("HRANDFIELD", key, n) end
  return rcall("ZRANGE", key, 0, n - 1)
end

-- The sorted states first, each one ZSCORE (BullMQ's removeJobFromAnyState), then the lists.
local SORTED = {{"completed", "completed"}, {"waitingChildren", "waiting-children"}, {"delayed", "delayed"},
  {"failed", "failed"}, {"prioritized", "prioritized"}}
local NOT_STARTED = {{"wait", "wait"}, {"paused", "paused"}, {"active", "active"}}
local STARTED = {{"active", "active"}, {"wait", "wait"}, {"paused", "paused"}}
local STATE_KEYS = {wait = "wait", paused = "paused", active = "active"}
for _, entry in ipairs(SORTED) do STATE_KEYS[entry[2]] = entry[1] end

local plan, drops, planned, onPath = {}, {}, {}, {}
-- List entries searched so far; jobs planned plus child entries dropped (what this call achieves).
local searched, made = 0, 0

-- Where job `id` is listed, and its index when in a list, searching lists within what is left of ARGV[5]
-- (without limit for the job itself or while the call has achieved nothing yet); nil when that is not
-- enough. A finished job, or a child whose key is not a job hash, is not searched for in the lists: it
-- has no business there.
local function whereIs(q, id, key, top)
  for _, entry in ipairs(SORTED) do
    if listedIn("ZSCORE", q[entry[1]], id) then return entry[2] end
  end
  local isHash = jobKeyType(key) == "hash"
  if not top and (not isHash or jobField(key, "finishedOn")) then return "unknown" end
  for _, entry in ipairs(isHash and jobField(key, "processedOn") and STARTED or NOT_STARTED) do
    local limit = 0
    if not top and made > 0 then
      limit = listBudget - searched
      if limit <= 0 then return nil end
    end
    local at = redis.pcall("LPOS", q[entry[1]], id, "MAXLEN", limit)
    if type(at) == "number" then
      searched = searched + at + 1
      return entry[2], at
    end
    local length = size("LLEN", q[entry[1]])
    if limit > 0 and length > limit then return nil end
    searched = searched + length
  end
  return "unknown"
end

local visit

-- Plans the children in one child set of `key`; true when all of them were planned.
local function visitSet(key, set, depth, pending)
  local setKey = key .. set[1]
  local total = size(set[2], setKey)
  if total == 0 then return true end
  local members = someMembers(set[2], setKey, math.max(budget, 1))
  for _, member in ipairs(members) do
    if budget <= 0 and made > 0 then return false end
    budget = budget - 1
    local q, id = childQueue(prefix, member)
    if q and not onPath[member] and not planned[member] then
      if not visit(q, id, member, depth + 1, pending and set[4]) then return false end
    else
      made = made + 1
    end
    drops[#drops + 1] = {key, setKey, set[3], member}
  end
  return #members >= total
end

-- Plans the job and what is below it, children first, within the call's share; true when all of it was
-- planned. The first path down is always followed to its end, so that each call achieves something; a
-- parent whose children used up the share waits for the next call.
visit = function(q, id, key, depth, pending)
  local complete = true
  if withChildren and depth < MAX_TREE_DEPTH then
    onPath[key] = true
    for _, set in ipairs(CHILD_SETS) do
      complete = visitSet(key, set, depth, pending)
      if not complete then break end
    end
    onPath[key] = nil
  end
  if not complete or (budget <= 0 and made > 0) then return false end
  local state, at = whereIs(q, id, key, depth == 0)
  if not state then return false end
  plan[#plan + 1] = {q, id, key, state, pending, at}
  planned[key] = true
  made = made + 1
  return true
end

local function planLocked()
  for _, entry in ipairs(plan) do
    if entry[5] and rcall("EXISTS", entry[3] .. ":lock") == 1 then return true end
  end
  return false
end

-- Not a job id (isJobId refuses ':' outside a scheduler run): no list entry is taken for it.
local GONE = "board:removed:"
local marked = {}

-- A list entry found by LPOS becomes a marker (LSET walks the list by whole nodes), and one LREM per list
-- takes the markers out at the end: one pass over the list rather than one per job. Nothing is pushed at
-- a list's head in between, but LINDEX checks the entry all the same.
local function leaveList(listKey, id, at)
  if redis.pcall("LINDEX", listKey, at) == id then
    rcall("LSET", listKey, at, GONE)
    marked[listKey] = (marked[listKey] or 0) + 1
  else
    redis.pcall("LREM", listKey, 1, id)
  end
end

-- Removes what was planned, children first. A child never releases its parent, which is going too: a
-- parent removed in the same call still lists it, one that stays for a later call only loses its entry.
local function removePlanned()
  if planned[jobKey] then removeParentDependency(jobKey, nil, false, Q) end
  local removed = 0
  for _, entry in ipairs(plan) do
    local q, id, key, state = entry[1], entry[2], entry[3], entry[4]
    if state == "wait" or state == "paused" or state == "active" then
      leaveList(q[STATE_KEYS[state]], id, entry[6])
    elseif state ~= "unknown" then
      rcall("ZREM", q[STATE_KEYS[state]], id)
    end
    if state ~= "unknown" or jobKeyType(key) == "hash" then
      redis.pcall("SREM", q.stalled, id)
      dropDedupKey(q, id)
      removeJobKeys(q, id)
      emit(q, "removed", "jobId", id, "prev", state)
      removed = removed + 1
    end
  end
  for listKey, count in pairs(marked) do rcall("LREM", listKey, count, GONE) end
  for _, drop in ipairs(drops) do
    if not planned[drop[1]] then redis.pcall(drop[3], drop[2], drop[4]) end
  end
  return removed
end

-- The "check" step: a depth-first walk of the pending descendants, a page of one child set (SSCAN) at a
-- time. Each frame is {depth, job key, SSCAN cursor or "done", index of its parent's frame}: a parent
-- frame stays below its children's until they are done, so a key is on the current path when one of
-- the frames from its parent down is its own (a loop another program wrote is not walked round).
local function onStack(frames, at, key)
  while at > 0 do
    if frames[at][2] == key then return true end
    at = frames[at][4]
  end
  return false
end

local function scanPage(frames, at)
  local frame = frames[at]
  local page = redis.pcall("SSCAN", frame[2] .. ":dependencies", frame[3], "COUNT", math.max(budget, 1))
  if type(page) ~= "table" or page.err then page = {"0", {}} end
  frame[3] = page[1] == "0" and "done" or page[1]
  budget = budget - 1
  for _, member in ipairs(page[2]) do
    budget = budget - 1
    if childQueue(prefix, member) then
      if rcall("EXISTS", member .. ":lock") == 1 then return true end
      if frame[1] + 1 < MAX_TREE_DEPTH and size("SCARD", member .. ":dependencies") > 0
          and not onStack(frames, at, member) then
        frames[#frames + 1] = {frame[1] + 1, member, "0", at}
      end
    end
  end
  return false
end

local function checkStep()
  local frames = {}
  for i = 7, #ARGV - 3, 4 do
    frames[#frames + 1] = {tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])}
  end
  while #frames > 0 and budget > 0 do
    if frames[#frames][3] == "done" then
      frames[#frames] = nil
    elseif scanPage(frames, #frames) then
      return JOB_LOCKED
    end
  end
  if #frames == 0 then return {0, "remove"} end
  local reply = {0, "check"}
  for _, frame in ipairs(frames) do
    for _, value in ipairs(frame) do reply[#reply + 1] = value end
  end
  return reply
end

if step == "check" then return checkStep() end

if step == "start" then
  if isSchedulerRun(Q, jobId) then return JOB_BELONGS_TO_JOB_SCHEDULER end
  if rcall("EXISTS", jobKey .. ":lock") == 1 then return JOB_LOCKED end
  local kind = jobKeyType(jobKey)
  if kind == "none" then return 0 end
  if kind ~= "hash" and jobState(Q, jobId) == "unknown" then return 0 end
  visit(Q, jobId, jobKey, 0, true)
  -- Too large for one call: nothing is removed before the whole pending tree is checked for locks.
  if not planned[jobKey] then return {0, "check", 0, jobKey, "0", 0} end
else
  -- Someone else removed the job meanwhile: what of its tree is left is theirs.
  if jobKeyType(jobKey) == "none" then return 0 end
  visit(Q, jobId, jobKey, 0, true)
end
if planLocked() then return JOB_LOCKED end
local removed = removePlanned()
if planned[jobKey] or made == 0 then return removed end
return {removed, "remove"}
