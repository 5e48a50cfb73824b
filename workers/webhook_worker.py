"""The webhook worker's Celery app (`celery -A workers.webhook_worker worker -Q webhooks --pool threads`).

It runs no engine and touches no GPU. Besides the task it runs two loops (threads in the worker
process): the scheduler that turns due deliveries in the Redis ``due`` set into task messages (see
workers/webhooks/dispatch.py for why retries live in Redis and not in Celery countdowns), and the
batch planner (workers/planner.py), the one place where bulk backfill items are listed and queued.
The planner lives here, not in GPU workers, because listing and hashing objects is I/O that should
not share a process with the engine; OCRQ_BATCH_PLANNER=off moves it to `ocrq planner` processes.
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_init, worker_ready, worker_shutdown

from shared.infra import tracing

tracing.keep_out_unless_configured()  # before redis is imported (shared/infra/tracing.py says why)

from shared.infra.redis_client import connect  # noqa: E402
from shared.infra.settings import get_settings  # noqa: E402
from workers.celery_app import (  # noqa: E402
    QUEUE_WEBHOOKS,
    TASK_DELIVER_WEBHOOK,
    TASK_RUN_JOB,
    make_celery,
)

log = logging.getLogger("ocrq.webhooks")

settings = get_settings()
app = make_celery(settings)
app.conf.update(
    # The due set, not the message, is the record of work: ack on receipt, so a killed worker's
    # messages are not restored an hour later by the visibility timeout (they would be no-ops).
    task_acks_late=False,
    task_reject_on_worker_lost=False,
    task_time_limit=int(4 * settings.webhook_timeout_s + 30),
    task_soft_time_limit=int(3 * settings.webhook_timeout_s + 20),
)

_dispatcher = None
_stop = threading.Event()
_thread: threading.Thread | None = None


def dispatcher():  # type: ignore[no-untyped-def]
    global _dispatcher
    if _dispatcher is None:
        from workers.webhooks.dispatch import Dispatcher

        _dispatcher = Dispatcher(settings, connect(settings.redis_url, "ocrq-webhooks"))
    return _dispatcher


@app.task(name=TASK_DELIVER_WEBHOOK, ignore_result=True)
def deliver_webhook(member: str, token: int) -> str:
    outcome = dispatcher().attempt(member, int(token))
    log.info("webhook %s: %s", member, outcome)
    return outcome


def _send(member: str, token: int) -> None:
    # The scheduler sends outside any span: with tracing on, the message joins the trace of the job
    # the event is about (its stored traceparent), so the delivery's spans do too.
    traceparent = dispatcher().traceparent(member) if tracing.active() else None
    with tracing.use_traceparent(traceparent):
        app.send_task(TASK_DELIVER_WEBHOOK, args=[member, token], queue=QUEUE_WEBHOOKS,
                      headers=tracing.message_headers(traceparent))


@worker_init.connect
def _tracing(**_: object) -> None:
    # OpenTelemetry only with OTEL_EXPORTER_OTLP_ENDPOINT set (shared/infra/tracing.py); a threads pool: one process.
    if tracing.setup("webhooks"):
        tracing.instrument_celery()


@worker_ready.connect
def _start_scheduler(sender: object = None, **_: object) -> None:
    global _thread
    if _thread is not None:
        return
    d = dispatcher()
    _stop.clear()
    _thread = threading.Thread(target=d.run_scheduler, args=(_stop, _send, lambda: d.client.llen(QUEUE_WEBHOOKS)),
                               name="ocrq-webhook-scheduler", daemon=True)
    _thread.start()


@worker_shutdown.connect
def _stop_scheduler(**_: object) -> None:
    _stop.set()
    tracing.shutdown()


@worker_ready.connect
def _start_planner(sender: object = None, **_: object) -> None:
    from workers.planner import start_planner_thread

    start_planner_thread(settings, lambda job_id, queue: app.send_task(TASK_RUN_JOB, args=[job_id], queue=queue))


@worker_shutdown.connect
def _stop_planner(**_: object) -> None:
    from workers.planner import stop_planner_thread

    stop_planner_thread()
