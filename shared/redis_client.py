"""One way to open Redis: from the configured URL, with timeouts so a dead server fails fast."""

from __future__ import annotations

import redis


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=5,
        socket_timeout=40,  # above the longest long-poll (wait_max_s), below "hung forever"
        health_check_interval=30,
        retry_on_timeout=False,
    )
