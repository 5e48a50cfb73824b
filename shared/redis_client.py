"""One way to open Redis: from the configured URL, with timeouts so a dead server fails fast."""

from __future__ import annotations

import redis


def connect(url: str, name: str | None = None) -> redis.Redis:
    """`name` shows in CLIENT LIST, so an operator (or bench/gateway.py) can tell who sends what."""
    return redis.Redis.from_url(
        url,
        client_name=name,
        socket_connect_timeout=5,
        socket_timeout=40,  # above the longest long-poll (wait_max_s), below "hung forever"
        health_check_interval=30,
        retry_on_timeout=False,
    )
