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
-- One constructor, in QUEUE_KEYS's order (tests/engine/test_lua.py holds them to it): cheaper on every
-- call than a loop over QUEUE_KEYS, which scripts that build no other queue's keys then do not carry.
local Q = {
  base = ARGV[1], wait = KEYS[1], active = KEYS[2], paused = KEYS[3], delayed = KEYS[4], prioritized = KEYS[5],
  pc = KEYS[6], marker = KEYS[7], waitingChildren = KEYS[8], completed = KEYS[9], failed = KEYS[10],
  stalled = KEYS[11], stalledCheck = KEYS[12], id = KEYS[13], meta = KEYS[14], events = KEYS[15],
  limiter = KEYS[16],
}
HOME.key, HOME.base = KEYS[1], ARGV[1]
