"""The batch scripts: cursor advance with item registration, accounting, ledger trim, retry, release."""

from __future__ import annotations

import redis

_ADVANCE = """
if ARGV[1] ~= '\\0' then
  local cur = redis.call('HGET', KEYS[1], 'cursor') or ''
  if cur ~= ARGV[1] then return 0 end
  redis.call('HSET', KEYS[1], 'cursor', ARGV[2])
end
if ARGV[10] == '1' then redis.call('LPOP', KEYS[5]) end
local kind = ARGV[3]
if kind == 'cursor' then return 1 end
if kind == 'queue' and redis.call('HGET', KEYS[1], 'status') == 'canceled' then return -1 end
if ARGV[9] == '1' then redis.call('HINCRBY', KEYS[1], 'planned', 1) end
local pages = tonumber(ARGV[11] or '0') or 0
if kind == 'queue' then
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
  if pages > 0 then redis.call('HINCRBY', KEYS[1], 'pages_total', pages) end
elseif kind == 'skip' then
  redis.call('HINCRBY', KEYS[1], 'skipped', 1)
  if pages > 0 then
    redis.call('HINCRBY', KEYS[1], 'pages_total', pages)
    redis.call('HINCRBY', KEYS[1], 'pages_skipped', pages)
  end
  redis.call('RPUSH', KEYS[4], ARGV[6])
elseif kind == 'fail' then
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
  redis.call('RPUSH', KEYS[4], ARGV[6])
  redis.call('HSET', KEYS[3], ARGV[7], ARGV[8])
end
return 1
"""

# Account one finished job exactly once, and drop its job record (the output prefix has it now).
# KEYS: batch, inflight, failures, ledger, job hash, tenant job index, running zset, unsent zset, then any
# other per-job sets (queued, expiring) the job is dropped from
# ARGV: job id, counter, ledger row, failure field ("" = none), failure json, pages done, pages failed
# (the page counters move in the same step as the HDEL, so a hook run twice counts its pages once)
_ACCOUNT = """
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
local pages_done = tonumber(ARGV[6] or '0') or 0
local pages_failed = tonumber(ARGV[7] or '0') or 0
if pages_done > 0 then redis.call('HINCRBY', KEYS[1], 'pages_done', pages_done) end
if pages_failed > 0 then redis.call('HINCRBY', KEYS[1], 'pages_failed', pages_failed) end
redis.call('RPUSH', KEYS[4], ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[5]) end
redis.call('DEL', KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
for i = 9, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
"""

# Drop the first n ledger rows once their shard is written; only if nobody flushed them first.
# KEYS: batch, ledger   ARGV: expected seq, n
_LEDGER_TRIM = """
if (redis.call('HGET', KEYS[1], 'ledger_seq') or '0') ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
redis.call('HINCRBY', KEYS[1], 'ledger_seq', 1)
return 1
"""

# Hand retryable failures back to the planner. KEYS: batch, failures, retry  ARGV: fields...
# A failure records the pages its item counted (`pages`, `pages_failed`); they are taken back here,
# and counted again when the item is planned again.
_RETRY = """
local n = 0
local pages, pages_failed = 0, 0
for i = 1, #ARGV do
  local v = redis.call('HGET', KEYS[2], ARGV[i])
  if v then
    redis.call('RPUSH', KEYS[3], v)
    redis.call('HDEL', KEYS[2], ARGV[i])
    n = n + 1
    local ok, f = pcall(cjson.decode, v)
    if ok and type(f) == 'table' then
      pages = pages + (tonumber(f.pages) or 0)
      pages_failed = pages_failed + (tonumber(f.pages_failed) or 0)
    end
  end
end
if pages > 0 then redis.call('HINCRBY', KEYS[1], 'pages_total', -pages) end
if pages_failed > 0 then redis.call('HINCRBY', KEYS[1], 'pages_failed', -pages_failed) end
if n > 0 then
  redis.call('HINCRBY', KEYS[1], 'failed', -n)
  redis.call('HINCRBY', KEYS[1], 'round', 1)
  if redis.call('HGET', KEYS[1], 'status') == 'completed' then
    redis.call('HSET', KEYS[1], 'status', 'running', 'finished_at', '')
  end
end
return n
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Scripts:
    def __init__(self, r: redis.Redis) -> None:
        self.advance = r.register_script(_ADVANCE)
        self.account = r.register_script(_ACCOUNT)
        self.ledger_trim = r.register_script(_LEDGER_TRIM)
        self.retry = r.register_script(_RETRY)
        self.release = r.register_script(_RELEASE)
