--[[
  The flow a job belongs to, for display, in one call and within bounds whatever the flow's size: the chain
  of parents up to the root (at most ARGV[7] of them), then the job's children breadth first, at most
  ARGV[5] per parent, ARGV[4] levels deep and ARGV[6] nodes in all. A flow may span queues: parents and
  children are read by their full keys (<prefix>:<queue>:<id>), under this queue's prefix only.

  A child's state is found as jobState finds it, except that a long list (wait, paused, active) is searched
  only ARGV[8] entries from each end: a job in the middle of a million waiting jobs is reported "waiting"
  by elimination rather than by reading the whole list.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] job id   ARGV[3] the prefix ("bull")   ARGV[4] levels below the job
  ARGV[5] children read per parent   ARGV[6] nodes in all   ARGV[7] parents above the job
  ARGV[8] entries of a list searched from each end
  Returns: {index of the job among the nodes, whether parents above the first node were left out (0 or 1),
  node, ...}, a node being {key, index of its parent node (0 for the first), state ("missing" when its key
  holds no job hash, "elsewhere" under another prefix or in another hash slot of a cluster), name (cut to
  200 bytes), children pending, done, failed (failed the parent), ignored (failed, ignored by the parent)};
  {} when the job is not there.
  Events: none.
]]
local prefix = ARGV[3] .. ":"
local maxDepth, perNode, maxNodes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local maxParents, scan = tonumber(ARGV[7]), tonumber(ARGV[8])

-- A reply, or nil when Redis refused the call (a key of another type, written by another program).
local function try(...)
  local reply = redis.pcall(...)
  if type(reply) == "table" and reply.err then return nil end
  return reply
end

-- {queue keys, id} of a job key under this prefix; nil for any other key.
local function split(key)
  if string.sub(key, 1, #prefix) ~= prefix then return nil end
  local rest = string.sub(key, #prefix + 1)
  local colon = string.find(rest, ":", 1, true)
  if not colon then return nil end
  local id = string.sub(rest, colon + 1)
  if not isJobId(id) or not reachable(prefix .. string.sub(rest, 1, colon)) then return nil end
  return queueKeys(prefix .. string.sub(rest, 1, colon)), id
end

-- Where `id` is listed in list `key`: "yes", "no", or "maybe" when the list is too long to search whole.
local function inList(key, id)
  local length = try("LLEN", key)
  if not length or length == 0 then return "no" end
  if length <= 2 * scan then
    return try("LPOS", key, id) and "yes" or "no"
  end
  if try("LPOS", key, id, "MAXLEN", scan) or try("LPOS", key, id, "RANK", -1, "MAXLEN", scan) then
    return "yes"
  end
  return "maybe"
end

local SORTED = {{"completed", "completed"}, {"failed", "failed"}, {"delayed", "delayed"},
  {"prioritized", "prioritized"}, {"waitingChildren", "waiting-children"}}
local LISTS = {{"active", "active"}, {"wait", "waiting"}, {"paused", "paused"}}

local function stateOf(q, id)
  for _, entry in ipairs(SORTED) do
    if listedIn("ZSCORE", q[entry[1]], id) then return entry[2] end
  end
  local presumed = nil
  for _, entry in ipairs(LISTS) do
    local found = inList(q[entry[1]], id)
    if found == "yes" then return entry[2] end
    if found == "maybe" and not presumed then presumed = entry[2] end
  end
  return presumed or "unknown"
end

local function count(command, key)
  return tonumber(try(command, key)) or 0
end

local nodes = {}

-- Adds the node of job key `key` under node `parent` (0: none); returns its index.
local function add(key, parent)
  local q, id = split(key)
  if not q then
    nodes[#nodes + 1] = {key, parent, "elsewhere", "", 0, 0, 0, 0}
    return #nodes
  end
  local state, name = "missing", ""
  if jobKeyType(key) == "hash" then
    state = stateOf(q, id)
    name = string.sub(jobField(key, "name") or "", 1, 200)
  end
  nodes[#nodes + 1] = {key, parent, state, name, count("SCARD", key .. ":dependencies"),
    count("HLEN", key .. ":processed"), count("ZCARD", key .. ":unsuccessful"), count("HLEN", key .. ":failed")}
  return #nodes
end

-- Up to `limit` members of a set (or fields of a hash, or members of a sorted set), read a page at a time
-- so that a parent of a million children costs what one of twenty does.
local function sample(command, key, limit, out)
  if limit <= 0 then return end
  if command == "ZRANGE" then
    for _, member in ipairs(try("ZRANGE", key, 0, limit - 1) or {}) do out[#out + 1] = member end
    return
  end
  local cursor, pages, step = "0", 0, command == "HSCAN" and 2 or 1
  local wanted = #out + limit
  repeat
    local reply = try(command, key, cursor, "COUNT", limit)
    if not reply then return end
    cursor = reply[1]
    for i = 1, #reply[2], step do
      if #out >= wanted then return end
      out[#out + 1] = reply[2][i]
    end
    pages = pages + 1
  until cursor == "0" or pages >= 10
end

local function childrenOf(key, limit)
  local keys = {}
  sample("SSCAN", key .. ":dependencies", limit, keys)
  sample("HSCAN", key .. ":processed", limit - #keys, keys)
  sample("ZRANGE", key .. ":unsuccessful", limit - #keys, keys)
  sample("HSCAN", key .. ":failed", limit - #keys, keys)
  return keys
end

local jobKey = Q.base .. ARGV[2]
if jobKeyType(jobKey) ~= "hash" then return {} end

-- The parents, nearest first; a key met twice (a loop another program wrote) ends the chain.
local parents, seen = {}, {[jobKey] = true}
local key, cut = jobKey, 0
while true do
  local parentKey = jobField(key, "parentKey")
  if not parentKey or parentKey == "" or seen[parentKey] then break end
  if #parents >= maxParents then
    cut = 1
    break
  end
  parents[#parents + 1] = parentKey
  seen[parentKey] = true
  -- Under another prefix: named, never read.
  if not split(parentKey) then break end
  key = parentKey
end

local index = 0
for i = #parents, 1, -1 do index = add(parents[i], index) end
local current = add(jobKey, index)

-- The job's descendants, a level at a time.
local level, depth = {current}, 0
while #level > 0 and depth < maxDepth and #nodes < maxNodes do
  local nextLevel = {}
  for _, at in ipairs(level) do
    if #nodes >= maxNodes then break end
    local node = nodes[at]
    if node[5] + node[6] + node[7] + node[8] > 0 then
      for _, childKey in ipairs(childrenOf(node[1], math.min(perNode, maxNodes - #nodes))) do
        if not seen[childKey] then
          seen[childKey] = true
          nextLevel[#nextLevel + 1] = add(childKey, at)
        end
      end
    end
  end
  level, depth = nextLevel, depth + 1
end

local out = {current, cut}
for _, node in ipairs(nodes) do out[#out + 1] = node end
return out
