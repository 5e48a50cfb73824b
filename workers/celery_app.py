"""The Celery app: Redis (or RabbitMQ) broker, three queues, settings for at-least-once delivery.

- acks_late + reject_on_worker_lost: a message is acknowledged only after its job is done, and a
  pool process killed mid-job puts its message back (acks_late alone would ack and lose it).
- prefetch 1: a worker holds no message it is not running, so idle GPUs get the waiting work.
- visibility_timeout above the hard time limit: a slow job is never delivered to a second worker.
- queue_order_strategy=priority: BRPOP lists `interactive` first, so scanners never wait behind
  the bulk backfill; `webhooks` is consumed by its own worker, never by GPU workers.

Broker differences (OCRQ_BROKER_URL):
- Redis (redis://, rediss://, unix://, sentinel://): visibility_timeout and queue_order_strategy
  above apply; a message a dead worker held comes back after the visibility timeout.
- RabbitMQ (amqp://, pyamqp://, amqps://): those two options do not exist. An unacknowledged
  message comes back as soon as the worker's connection closes (and RabbitMQ's consumer_timeout,
  30 min by default, must exceed OCRQ_JOB_TIME_LIMIT_S). Publisher confirms are on, so a send
  returns only once the broker has the message. A worker consuming `interactive,bulk` takes
  from both queues with no strict order: with prefetch 1 an interactive job waits for at most
  the job running on each worker, but under a backlog of both, bulk jobs are interleaved.
  For strict priority give interactive traffic its own workers (`ocrq worker --queues
  interactive`).

Every Celery worker built here logs JSON lines (shared/infra/logs.py) at OCRQ_LOG_LEVEL.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery, bootsteps
from celery.signals import celeryd_after_setup, celeryd_init, setup_logging

from shared.infra import tracing
from shared.infra.broker import (  # noqa: F401  (re-exported: the names workers use with the app)
    JOB_QUEUES,
    QUEUE_BULK,
    QUEUE_INTERACTIVE,
    QUEUE_WEBHOOKS,
    TASK_DELIVER_WEBHOOK,
    TASK_RUN_JOB,
    TASK_RUN_PAGE,
    broker_kind,
    celery_config,
)
from shared.infra.settings import Settings
from shared.jobs.store import stored_traceparent

log = logging.getLogger("ocrq.broker")


def job_sender(app: Celery, client: redis.Redis | None = None) -> Callable[[str, str], None]:
    """Sends a job's message (job id) on its lane. With ``client`` (the reaper's re-sends, made
    outside any span), the message continues the job's trace from its stored traceparent."""

    def send(job_id: str, queue: str) -> None:
        traceparent = stored_traceparent(client, job_id) if client is not None else None
        with tracing.use_traceparent(traceparent):
            app.send_task(TASK_RUN_JOB, args=[job_id], queue=queue, headers=tracing.message_headers(traceparent))

    return send


def page_sender(app: Celery, client: redis.Redis | None = None) -> Callable[[str, int, str], None]:
    """Sends one page of a fanned-out document (job id, page number) on the job's lane; with
    ``client``, in the job's trace (as job_sender). The runner's fan-out needs none: it sends from
    inside the job's task, whose span the Celery instrumentation puts in the message."""

    def send(job_id: str, page: int, queue: str) -> None:
        traceparent = stored_traceparent(client, job_id) if client is not None else None
        with tracing.use_traceparent(traceparent):
            app.send_task(TASK_RUN_PAGE, args=[job_id, page], queue=queue,
                          headers=tracing.message_headers(traceparent))

    return send


class RestoreUnacked(bootsteps.StartStopStep):
    """Each time the consumer has connected (again), before it consumes: put back on their queues
    the messages this worker held when its last broker connection broke and could not put back
    then (workers/kombu_compat.py). A connection error here is the consumer's: it reconnects and
    this runs again; anything else is logged, and the tags wait for the next connection."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def start(self, c: Any) -> None:
        from workers import kombu_compat

        try:
            if not kombu_compat.pending_restore():
                return
            with c.app.connection_for_write() as conn:
                kombu_compat.restore_pending(conn)
        except tuple(getattr(c, "connection_errors", ())):
            raise
        except Exception:
            log.exception("could not put the messages held at the last broker connection loss back on the queue")


def make_celery(settings: Settings) -> Celery:
    """The worker's Celery app; its whole configuration is shared.infra.broker.celery_config."""
    from workers import kombu_compat

    # A broken Redis broker connection must not end the worker, nor leave what it held unacknowledged (see there).
    kombu_compat.install()
    conf = celery_config(settings)
    app = Celery("ocrq", broker=conf["broker_url"])
    app.conf.update(conf)
    app.steps["consumer"].add(RestoreUnacked)
    return app


def _configure_json_logging(loglevel: object = None) -> None:
    from shared.infra import logs

    logs.configure(logs.parse_level(os.environ.get("OCRQ_LOG_LEVEL") or loglevel))  # type: ignore[arg-type]
    logging.captureWarnings(True)


@celeryd_init.connect(weak=False)
def _early_json_logging(options: dict | None = None, **_: object) -> None:
    # celeryd_init comes before Celery's first warnings (e.g. running as root) and before it
    # sets up logging; its shutdown notices ("worker: Warm shutdown") are written from a signal
    # handler with safe_say, so they become JSON lines written the same lock-free way.
    _configure_json_logging((options or {}).get("loglevel"))
    try:
        import sys

        import celery.apps.worker as celery_worker

        from shared.infra.logs import format_from_env, make_formatter

        console = format_from_env() == "console"

        def say(msg: str, f: object = None) -> None:
            rec = logging.LogRecord("celery.apps.worker", logging.WARNING, __file__, 0, str(msg).strip(), None, None)
            if console:  # a terminal (ocrq dev) says "stopped" itself: no shutdown notices there
                return
            print(make_formatter().format(rec), file=sys.__stderr__, flush=True)

        if hasattr(celery_worker, "safe_say"):
            celery_worker.safe_say = say
    except Exception:  # cosmetic only
        pass


@setup_logging.connect(weak=False)
def _json_logging(loglevel: object = None, **_: object) -> None:
    """Any receiver here makes Celery leave logging alone: JSON lines at OCRQ_LOG_LEVEL
    (or the worker's --loglevel when OCRQ_LOG_LEVEL is unset)."""
    from celery import current_app

    _configure_json_logging(loglevel)
    current_app.log.redirect_stdouts("WARNING")  # a stray print() becomes a JSON line too


@celeryd_after_setup.connect(weak=False)
def _log_start(sender: object = None, instance: object = None, conf: object = None, **_: object) -> None:
    # The banner is plain text; `ocrq worker` runs Celery with --quiet and logs this line instead.
    app = getattr(instance, "app", None)
    consumer_queues = [q.name for q in app.amqp.queues.consume_from.values()] if app is not None else []
    pool = str(getattr(getattr(instance, "pool_cls", None), "__module__", "")).rsplit(".", 1)[-1]
    extra = {
        "hostname": str(sender),
        "queues": consumer_queues,
        "broker": app.connection_for_read().as_uri() if app is not None else "",  # password masked
        "pool": pool,
        "concurrency": getattr(instance, "concurrency", None),
    }
    if pool == "prefork":  # recycling applies to pool children only (OCRQ_WORKER_MAX_*)
        max_kib = getattr(instance, "max_memory_per_child", None)
        extra["max_tasks_per_child"] = getattr(instance, "max_tasks_per_child", None) or 0
        extra["max_memory_per_child_mb"] = (max_kib or 0) // 1024
    logging.getLogger("ocrq.worker").info("worker starting", extra=extra)
