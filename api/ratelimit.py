"""Per-key token bucket in Redis (one Lua call per request, shared by every gateway process)."""

from __future__ import annotations

import math
import time

import redis

from shared.infra import keyspace

# KEYS[1] bucket hash; ARGV: rate/s, burst, now (s, float), cost. Returns {allowed, wait_s*1000}.
_BUCKET = """
local rate, burst, now, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {allowed, math.ceil(wait * 1000)}
"""


class RateLimiter:
    def __init__(self, client: redis.Redis, rate_per_s: float, burst: int) -> None:
        self.rate, self.burst = rate_per_s, burst
        self._script = client.register_script(_BUCKET)

    def take(self, key_id: str, cost: float = 1.0) -> float:
        """0 when allowed; otherwise the seconds to wait before retrying."""
        allowed, wait_ms = self._script(
            keys=[keyspace.rate_bucket(key_id)], args=[self.rate, self.burst, time.time(), cost]
        )
        return 0.0 if allowed == 1 else max(1.0, math.ceil(wait_ms / 1000))
