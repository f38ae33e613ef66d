--[[
  The current queue, for the script's own body: sent after _lib.lua and the helper files a script
  includes, so that no helper can use it without being given it.

  KEYS: the queue's keys, in the order of keys.SCRIPT_KEY_SUFFIXES (QUEUE_KEYS in _lib.lua):
    KEYS[1] wait          KEYS[2] active        KEYS[3] paused       KEYS[4] delayed
    KEYS[5] prioritized   KEYS[6] pc            KEYS[7] marker       KEYS[8] waiting-children
    KEYS[9] completed     KEYS[10] failed       KEYS[11] stalled     KEYS[12] stalled-check
    KEYS[13] id           KEYS[14] meta         KEYS[15] events      KEYS[16] limiter
  ARGV[1]: the queue's key base "<prefix>:<queue>:", from which job keys are built.
]]
local Q = {base = ARGV[1]}
for i, key in ipairs(QUEUE_KEYS) do Q[key[1]] = KEYS[i] end
