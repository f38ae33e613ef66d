--[[
  What the overview and the queue navigation show of many queues, in one call and one reply: each queue's
  marks (paused, the rate limiter's window), or all its figures (counts per state, settings, schedulers,
  whether it exists, and its job metrics when asked, for a sparkline).

  KEYS: KEYS[1] the first queue's meta key: only so that a cluster client sends the call to the node of
        these queues (the caller puts queues of one hash slot in a call). Each queue's keys are built from
        its key base, as job keys are.
  ARGV[1] "marks" or "figures"
  ARGV[2] minutes of job metrics read with the figures (0: none)
  ARGV[3] how many state names follow (0 for marks); ARGV[4..] the state names, as get_counts.lua takes
          them; then the queues' key bases "<prefix>:<queue>:"
  Returns: per queue in ARGV order, the text of the error when Redis refused a read of that queue (a key
  another program gave another type), or
    marks:   {paused (1 or 0), rate limit max or "", limiter TTL ms (-2: no window open),
              jobs started in the window or ""}
    figures: {counts in ARGV order, paused, global concurrency or "", rate limit max or "", rate limit
              duration or "", limiter TTL ms, jobs started in the window or "", schedulers, 1 when any of the
              queue's keys is there (else 0), meta version or "", metrics}
  where metrics is {} when no minutes were asked, the text of the error when they could not be read, 0 when
  the queue keeps none, else for completed then failed: {count, prevTS, prevCount}, the newest ARGV[2]
  points, how many points are kept (the replies of metrics_calls in metrics.py).
  As in get_counts.lua, a paused queue keeps its jobs in wait; "paused" counts only a legacy paused list.
  Events: none.
]]
local mode, minutes, nstates = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local states = {}
for i = 1, nstates do states[i] = ARGV[3 + i] end
local firstBase = 4 + nstates

local function errorText(e)
  if type(e) == "table" then return e.err or "error" end
  return tostring(e)
end

local function marks(base)
  local meta = rcall("HMGET", base .. "meta", "paused", "max")
  local limiter = base .. "limiter"
  local ttl = rcall("PTTL", limiter)
  local started = ""
  if ttl > 0 then started = rcall("GET", limiter) or "" end
  return {meta[1] and 1 or 0, meta[2] or "", ttl, started}
end

-- How each state is counted, worked out once for all the queues: the command and the key's suffix.
local COUNTERS = {
  wait = {"LLEN", "wait"}, waiting = {"LLEN", "wait"}, paused = {"LLEN", "paused"},
  active = {"LLEN", "active"}, delayed = {"ZCARD", "delayed"}, prioritized = {"ZCARD", "prioritized"},
  ["waiting-children"] = {"ZCARD", "waiting-children"}, completed = {"ZCARD", "completed"},
  failed = {"ZCARD", "failed"},
}
local counters = {}
for i = 1, nstates do counters[i] = COUNTERS[states[i]] or false end

local function metrics(base)
  local completed, failed = base .. "metrics:completed", base .. "metrics:failed"
  -- Most queues keep none: one look tells, instead of six reads of nothing.
  if rcall("EXISTS", completed, completed .. ":data", failed, failed .. ":data") == 0 then return 0 end
  local out = {}
  for _, key in ipairs({completed, failed}) do
    out[#out + 1] = rcall("HMGET", key, "count", "prevTS", "prevCount")
    out[#out + 1] = rcall("LRANGE", key .. ":data", 0, minutes - 1)
    out[#out + 1] = rcall("LLEN", key .. ":data")
  end
  return out
end

local function figures(base)
  local out = {}
  local held = 0
  for i = 1, nstates do
    local counter = counters[i]
    local n = counter and rcall(counter[1], base .. counter[2]) or 0
    out[i] = n
    held = held + n
  end
  local metaKey, limiter = base .. "meta", base .. "limiter"
  local meta = rcall("HMGET", metaKey, "paused", "concurrency", "max", "duration", "version")
  local ttl = rcall("PTTL", limiter)
  local started = ""
  if ttl > 0 then started = rcall("GET", limiter) or "" end
  -- An empty list or sorted set is no key: a queue holding no job is there when its meta or id is.
  local found = 1
  if held == 0 then found = rcall("EXISTS", metaKey, base .. "id") > 0 and 1 or 0 end
  local n = nstates
  out[n + 1] = meta[1] and 1 or 0
  out[n + 2] = meta[2] or ""
  out[n + 3] = meta[3] or ""
  out[n + 4] = meta[4] or ""
  out[n + 5] = ttl
  out[n + 6] = started
  out[n + 7] = rcall("ZCARD", base .. "repeat")
  out[n + 8] = found
  out[n + 9] = meta[5] or ""
  out[n + 10] = {}
  if minutes > 0 then
    -- Metrics another program wrote badly leave the figures readable: only the sparkline is lost.
    local ok, read = pcall(metrics, base)
    out[n + 10] = ok and read or errorText(read)
  end
  return out
end

local read = mode == "marks" and marks or figures
local replies = {}
for i = firstBase, #ARGV do
  local ok, result = pcall(read, ARGV[i])
  replies[#replies + 1] = ok and result or errorText(result)
end
return replies
