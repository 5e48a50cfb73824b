"""A worker survives its Redis broker connection breaking mid-poll (kombu 5.7, Celery 5.7).

Seen in tests/test_failover.py (1 run of 9): the webhook worker exited with "Unrecoverable error:
AttributeError: 'NoneType' object has no attribute 'hostname'" when the Redis primary was killed.
On a connection error Celery's consumer calls ``connection.collect()`` and then
``connection.close()``. When the channel was polling (BRPOP) its first close stops at the broken
socket, a connection error that kombu ignores, before the channel is marked closed; ``collect``
detaches the transport anyway (``transport.client = None``). The second close then tries to
restore the channel's unacknowledged messages, builds a new pool from ``transport.client``, and the
AttributeError escapes: ``maybe_close_channel`` and ``ignore_errors`` only swallow connection
errors, so the worker process dies and nothing restarts it.

The patch makes that step fail the way the rest of the close does: a channel whose transport is
detached raises redis ConnectionError instead of building a pool, which kombu ignores, and the
consumer reconnects. The messages it could not restore then are still in the broker's unacked set
and come back after the visibility timeout (ocrq does not depend on that: the reaper re-sends
jobs and webhook deliveries are driven by the outbox's due set).
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

_MARK = "_ocrq_detached_guard"


def install() -> None:
    """Patch kombu's Redis channel once (idempotent)."""
    channel_cls: Any = kombu_redis.Channel
    original = channel_cls._connparams
    if getattr(original, _MARK, False):
        return

    def _connparams(self: Any, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise redis.ConnectionError("the broker connection was closed")
        return original(self, asynchronous=asynchronous)  # type: ignore[no-any-return]

    setattr(_connparams, _MARK, True)
    channel_cls._connparams = _connparams
