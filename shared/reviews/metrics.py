"""Review counters in one Redis hash (reviews:stats), read by the gateway's /metrics at scrape time.

  opened:<reason>            reviews opened with that reason
  resolved:<decision>        reviews resolved with that decision
  corrections:<decision>     corrected values (lines, fields, GS1 values, barcode texts) per decision
  open_s_bucket:<le>         open→resolved seconds, cumulative histogram buckets; open_s_sum, open_s_count
"""

from __future__ import annotations

from typing import Any

import redis

from shared.infra import keyspace
from shared.infra.redis_client import as_str

OPEN_S_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0, 7 * 24 * 3600.0)


def opened(r: redis.Redis, reasons: list[str]) -> None:
    pipe = r.pipeline(transaction=False)
    for reason in reasons:
        pipe.hincrby(keyspace.REVIEW_STATS, f"opened:{reason}", 1)
    pipe.execute()


def resolved(r: redis.Redis, decision: str, corrections: int, open_s: float) -> None:
    pipe = r.pipeline(transaction=False)
    pipe.hincrby(keyspace.REVIEW_STATS, f"resolved:{decision}", 1)
    pipe.hincrby(keyspace.REVIEW_STATS, f"corrections:{decision}", corrections)
    for le in OPEN_S_BUCKETS:
        if open_s <= le:
            pipe.hincrby(keyspace.REVIEW_STATS, f"open_s_bucket:{le:g}", 1)
    pipe.hincrbyfloat(keyspace.REVIEW_STATS, "open_s_sum", open_s)
    pipe.hincrby(keyspace.REVIEW_STATS, "open_s_count", 1)
    pipe.execute()


def read(r: redis.Redis) -> dict[str, Any]:
    return {as_str(k): float(as_str(v)) for k, v in r.hgetall(keyspace.REVIEW_STATS).items()}
