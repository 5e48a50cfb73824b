"""Fleet-wide job statistics kept in Redis, so any gateway can expose them on /metrics.

Workers are many processes on many machines; a per-process Prometheus registry would only show one
of them. Counters and histogram buckets live in one Redis hash instead (a few HINCRBY per job).
"""

from __future__ import annotations

import redis

from shared.infra import keyspace
from shared.infra.redis_client import as_str
from shared.results.model import Timings

KEY = keyspace.STATS
STAGES = ("queued", "fetch", "infer", "total")
BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


def record_finished(r: redis.Redis, status: str, timings: Timings | None) -> None:
    pipe = r.pipeline(transaction=False)
    pipe.hincrby(KEY, f"jobs:{status}", 1)
    if timings is not None:
        for stage in STAGES:
            seconds = getattr(timings, f"{stage}_ms") / 1000.0
            for le in BUCKETS_S:
                if seconds <= le:
                    pipe.hincrby(KEY, f"hist:{stage}:{le}", 1)
            pipe.hincrby(KEY, f"hist:{stage}:+Inf", 1)
            pipe.hincrbyfloat(KEY, f"hist:{stage}:sum", seconds)
    pipe.execute()


def read(r: redis.Redis) -> dict[str, float]:
    return {as_str(k): float(v) for k, v in r.hgetall(KEY).items()}
