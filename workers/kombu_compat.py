"""Two repairs to kombu's Redis transport (kombu 5.7, Celery 5.7): a worker survives its broker
connection breaking mid-poll, and the messages it held then go back on the queue once Redis returns.

1. A broken connection must not end the worker. Seen in tests/topology/test_failover.py (1 run of 9): the
webhook worker exited with "Unrecoverable error: AttributeError: 'NoneType' object has no attribute
'hostname'" when the Redis primary was killed. On a connection error Celery's consumer calls
``connection.collect()`` and then ``connection.close()``. When the channel was polling (BRPOP) its
first close stops at the broken socket, a connection error that kombu ignores, before the channel is
marked closed; ``collect`` detaches the transport anyway (``transport.client = None``). The second
close then tries to restore the channel's unacknowledged messages, builds a new pool from
``transport.client``, and the AttributeError escapes: ``maybe_close_channel`` and ``ignore_errors``
only swallow connection errors, so the worker process dies and nothing restarts it. The patch makes
that step fail the way the rest of the close does: a channel whose transport is detached raises
redis ConnectionError instead of building a pool, which kombu ignores, and the consumer reconnects.

2. What the worker held when the connection broke goes back on the queue (issue 24). Every message
a worker has taken from the queue and not acknowledged (the job it runs, one prefetched, a retry
waiting for its countdown) is in the broker's ``unacked`` hash. Closing the channel puts them back
on their queue (``QoS.restore_unacked``), but with Redis down, or the transport detached as above,
that restore fails and kombu does not try again: the message waits in ``unacked`` for the
visibility timeout (an hour), and a job no worker claimed stays ``queued`` until the reaper's
OCRQ_QUEUED_RESEND_S (900 s). The patch remembers the delivery tags whose restore failed
(``pending_restore``), and ``restore_pending`` (run by the worker's consumer each time it has
connected again: workers/celery_app.py) moves each from ``unacked`` back to the head of its queue
with kombu's own ``restore_by_tag``: one transaction on the hash, so a message goes back at most
once, whoever comes first (a tag acknowledged or restored meanwhile is a no-op). A job delivered
twice this way is harmless: the runner's compare-and-set skips a job that is not claimable.
The tags live in memory: a worker that dies before Redis returns leaves its messages to the
visibility timeout (and their jobs to the reaper: leases, OCRQ_QUEUED_RESEND_S).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

log = logging.getLogger("ocrq.broker")

_MARK = "_ocrq_detached_guard"
_pending: set[str] = set()  # delivery tags whose restore failed as their channel closed
_pending_lock = threading.Lock()


def install() -> None:
    """Patch kombu's Redis channel and QoS once (idempotent)."""
    channel_cls: Any = kombu_redis.Channel
    original = channel_cls._connparams
    if getattr(original, _MARK, False):
        return

    def _connparams(self: Any, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise redis.ConnectionError("the broker connection was closed")
        return original(self, asynchronous=asynchronous)

    qos_cls: Any = kombu_redis.QoS
    original_restore = qos_cls.restore_unacked

    def restore_unacked(self: Any, client: Any = None) -> Any:
        tags = [tag for tag in self._delivered if tag not in self._dirty]
        try:
            return original_restore(self, client)
        except Exception as err:
            # Those restored before the failure are no-ops for restore_by_tag later.
            with _pending_lock:
                _pending.update(tags)
            log.warning("could not put %d unacknowledged message(s) back on the queue as the broker "
                        "connection closed (%s: %s); they go back once it is up again",
                        len(tags), type(err).__name__, err)
            raise

    setattr(_connparams, _MARK, True)
    channel_cls._connparams = _connparams
    qos_cls.restore_unacked = restore_unacked


def pending_restore() -> list[str]:
    """Delivery tags this process could not put back on their queue (yet)."""
    with _pending_lock:
        return sorted(_pending)


def restore_pending(connection: Any) -> int:
    """Put back on their queues the messages whose restore failed, through ``connection`` (a kombu
    Connection to the broker); returns how many were still unacknowledged and went back. A
    connection error stops it, keeping the tags not yet done for the next call."""
    tags = pending_restore()
    if not tags:
        return 0
    channel = connection.default_channel
    qos = channel.qos
    if not isinstance(qos, kombu_redis.QoS):  # another transport restores its own way
        with _pending_lock:
            _pending.difference_update(tags)
        return 0
    restored = 0
    for tag in tags:
        with channel.conn_or_acquire() as client:
            held = bool(client.hexists(qos.unacked_key, tag))
            qos.restore_by_tag(tag, client=client)
        restored += held
        with _pending_lock:
            _pending.discard(tag)
    log.warning("put %d message(s) back on the queue that the lost broker connection had left "
                "unacknowledged (%d acknowledged or restored meanwhile)", restored, len(tags) - restored)
    return restored
