--[[
  Adding one job, shared by add_job.lua (one add per call) and add_jobs.lua (a chunk of adds per call),
  so that a chunk writes what the same adds made one by one would write. Included after _dedup.lua
  (--@include _dedup, then --@include _add).

  addJob(q, customId, name, data, opts, timestamp, delay, priority, lifo, dedupId, version)
      -> jobId, created
    customId  the job id asked for, or "" for the next number of q's counter
    dedupId   the deduplication id, or "" (its options are opts.de)
    version   the library version written to q's meta when a job is created
    created   true when the job was written; false when customId exists (nothing is written) or the add
              was deduplicated (jobId is then the id of the job that holds the deduplication id).
  Events: added, then delayed (with a delay) or waiting; duplicated when customId exists; those of
  deduplicate (_dedup.lua) when the add was deduplicated.
]]

-- What the first add of a call found in meta, by key ("same": the version is ours; "write": it is to be
-- written with the first job created): later adds of the same call would read and write the same values
-- again (nothing an add does removes a meta field).
local ADD_META_DONE = {}

local function addJob(q, customId, name, data, opts, timestamp, delay, priority, lifo, dedupId, version)
  -- As BullMQ: every add moves the counter, even one that creates nothing.
  local counter = rcall("INCR", q.id)
  if not ADD_META_DONE[q.meta] then
    -- One read for both meta fields an add may have to write: each is written only when it differs.
    local maxLen, stored = unpack(rcall("HMGET", q.meta, "opts.maxLenEvents", "version"))
    if not maxLen then
      rcall("HSET", q.meta, "opts.maxLenEvents", DEFAULT_MAX_EVENTS)
    end
    keepMaxEvents(q, maxLen)
    ADD_META_DONE[q.meta] = stored == version and "same" or "write"
  end
  local jobId = customId
  if jobId == "" then
    jobId = tostring(counter)
  elseif rcall("EXISTS", q.base .. jobId) == 1 then
    emit(q, "duplicated", "jobId", jobId)
    return jobId, false
  end
  local extra = {}
  if dedupId ~= "" then
    local existing = deduplicate(q, cjson.decode(opts).de, jobId, name, data, opts, timestamp, delay)
    if existing then return existing, false end
    extra = {"deid", dedupId}
  end
  storeJob(q, jobId, name, data, opts, timestamp, delay, priority, extra)
  if ADD_META_DONE[q.meta] == "write" then
    rcall("HSET", q.meta, "version", version)
    ADD_META_DONE[q.meta] = "same"
  end
  placeNewJob(q, jobId, timestamp, delay, priority, lifo)
  return jobId, true
end
