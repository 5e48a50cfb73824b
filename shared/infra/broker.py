"""The message broker as both processes see it: queue names, task names, settings, queue depth.

The gateway and the workers agree on these names and on the Celery configuration below; the
configuration is a plain dict (kombu queue declarations included) so this module imports no
Celery. ``workers/celery_app.py`` builds the worker app from it, and the gateway builds its
producer from the same dict, so a send from the gateway lands where a worker consumes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlparse

import redis
from kombu import Connection, Exchange, Queue

from shared.infra.redis_client import celery_sentinel_settings, connect, is_sentinel_url
from shared.infra.settings import Settings

log = logging.getLogger("ocrq.broker")

QUEUE_INTERACTIVE = "interactive"
QUEUE_BULK = "bulk"
QUEUE_WEBHOOKS = "webhooks"
JOB_QUEUES = (QUEUE_INTERACTIVE, QUEUE_BULK)
ALL_QUEUES = (QUEUE_INTERACTIVE, QUEUE_BULK, QUEUE_WEBHOOKS)

TASK_RUN_JOB = "ocrq.run_job"
TASK_RUN_PAGE = "ocrq.run_page"  # one page of a document job, on the job's own lane
TASK_DELIVER_WEBHOOK = "ocrq.deliver_webhook"

REDIS_SCHEMES = ("redis", "rediss", "unix", "sentinel", "sentinels", "redis+sentinel")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def broker_kind(url: str) -> str:
    """'redis', 'amqp' or the URL's scheme for anything else."""
    scheme = urlparse(url).scheme.lower()
    if scheme in REDIS_SCHEMES:
        return "redis"
    if scheme in AMQP_SCHEMES:
        return "amqp"
    return scheme


def transport_options(settings: Settings) -> dict[str, object]:
    kind = broker_kind(settings.effective_broker_url)
    if kind == "redis":
        return {"visibility_timeout": settings.visibility_timeout_s, "queue_order_strategy": "priority"}
    if kind == "amqp":
        return {"confirm_publish": True}
    return {}


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration of every ocrq process (see workers/celery_app.py for the why)."""
    cfg = dict(
        broker_url=settings.effective_broker_url,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE_INTERACTIVE,
        # One direct exchange per queue, so sending with queue=X always lands in X.
        task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q) for q in ALL_QUEUES],
        # Batch planning is no task: it is a loop in the webhook worker (workers/planner.py).
        task_routes={TASK_DELIVER_WEBHOOK: {"queue": QUEUE_WEBHOOKS}},
        broker_transport_options=transport_options(settings),
        broker_connection_retry_on_startup=True,
        # The soft limit is the job's limit (the runner fails the job with code time_limit); the hard
        # one, a little later, kills a pool process stuck in native code that ignores the soft one.
        task_soft_time_limit=settings.job_time_limit_s,
        task_time_limit=settings.job_time_limit_s + max(10, settings.job_time_limit_s // 10),
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_soft_shutdown_timeout=30.0,
        worker_enable_soft_shutdown_on_idle=True,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        broker_pool_limit=20,
        # Recycling of a prefork pool child between jobs (None: never); threads pools ignore both.
        worker_max_tasks_per_child=settings.worker_max_tasks_per_child or None,
        worker_max_memory_per_child=settings.worker_max_memory_mb * 1024 or None,  # Celery counts KiB
    )
    if is_sentinel_url(settings.effective_broker_url):  # redis+sentinel://: kombu's sentinel:// transport
        sentinel = celery_sentinel_settings(settings.effective_broker_url)
        cfg["broker_url"] = sentinel["broker_url"]
        cfg["broker_transport_options"] = {**transport_options(settings), **sentinel["broker_transport_options"]}
    return cfg


class QueueDepth:
    """Messages waiting in a queue, on whichever broker is configured.

    Redis: the queue is a list named after it (LLEN). RabbitMQ: a passive queue declare returns
    the ready-message count; the connection is kept and reopened after an error. Either way a
    broker that cannot answer gives None, and callers decide (backpressure lets the submit
    through: the queue send itself will report a dead broker).
    """

    def __init__(self, settings: Settings, redis_client: redis.Redis | None = None) -> None:
        self.url = settings.effective_broker_url
        self.kind = broker_kind(self.url)
        self._redis = redis_client if settings.broker_url in ("", settings.redis_url) else None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def __call__(self, queue: str) -> int | None:
        try:
            if self.kind == "redis":
                return int(self._redis_client().llen(queue))
            if self.kind == "amqp":
                return self._amqp_depth(queue)
        except Exception as err:  # the broker is down: not this caller's failure to report
            log.debug("queue depth of %s unavailable: %s", queue, err)
            self._reset()
        return None

    def _redis_client(self) -> redis.Redis:
        if self._redis is None:
            self._redis = connect(self.url, "ocrq-queue-depth")
        return self._redis

    def _amqp_depth(self, queue: str) -> int:
        with self._lock:
            if self._conn is None:
                self._conn = Connection(self.url, connect_timeout=5)
            channel = self._conn.default_channel
            _, count, _ = channel.queue_declare(queue=queue, passive=True)
            return int(count)

    def _reset(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.release()
                finally:
                    self._conn = None
