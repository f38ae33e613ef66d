--[[
  One page of a job's log lines, for display, and how many there are in all. A list's elements cannot be
  sized without reading them, so the whole list is sized first (MEMORY USAGE walks its nodes without
  copying them): when it holds more than ARGV[5] bytes, no line is read at all.

  KEYS: the queue's keys (see _queue.lua)
  ARGV[1] key base   ARGV[2] job id   ARGV[3] first line (0-based)   ARGV[4] last line
  ARGV[5] bytes the whole list may hold for its lines to be read
  Returns: {lines or false, total lines, bytes held (0 when not sized)}.
  Events: none.
]]
local logsKey = Q.base .. ARGV[2] .. ":logs"
if rcall("TYPE", logsKey)["ok"] ~= "list" then return {{}, 0, 0} end
local total = rcall("LLEN", logsKey)
local held = 0
if total > 0 then
  held = rcall("MEMORY", "USAGE", logsKey, "SAMPLES", "0")
  if held > tonumber(ARGV[5]) then return {false, total, held} end
end
return {rcall("LRANGE", logsKey, tonumber(ARGV[3]), tonumber(ARGV[4])), total, held}
