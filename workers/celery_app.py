"""The Celery app: Redis (or RabbitMQ) broker, three queues, settings for at-least-once delivery.

- acks_late + reject_on_worker_lost: a message is acknowledged only after its job is done, and a
  pool process killed mid-job puts its message back (acks_late alone would ack and lose it).
- prefetch 1: a worker holds no message it is not running, so idle GPUs get the waiting work.
- visibility_timeout above the hard time limit: a slow job is never delivered to a second worker.
- queue_order_strategy=priority: BRPOP lists `interactive` first, so scanners never wait behind
  the bulk backfill; `webhooks` is consumed by its own worker, never by GPU workers.
"""

from __future__ import annotations

from celery import Celery
from kombu import Exchange, Queue

from shared.settings import Settings

QUEUE_INTERACTIVE = "interactive"
QUEUE_BULK = "bulk"
QUEUE_WEBHOOKS = "webhooks"
JOB_QUEUES = (QUEUE_INTERACTIVE, QUEUE_BULK)

TASK_RUN_JOB = "ocrq.run_job"
TASK_DELIVER_WEBHOOK = "ocrq.deliver_webhook"
TASK_PLAN_BATCH = "ocrq.plan_batch"


def make_celery(settings: Settings) -> Celery:
    app = Celery("ocrq", broker=settings.effective_broker_url)
    transport: dict[str, object] = {
        "visibility_timeout": settings.visibility_timeout_s,
        "queue_order_strategy": "priority",
    }
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE_INTERACTIVE,
        # One direct exchange per queue, so sending with queue=X always lands in X.
        task_queues=[Queue(q, Exchange(q, type="direct"), routing_key=q) for q in (QUEUE_INTERACTIVE, QUEUE_BULK, QUEUE_WEBHOOKS)],
        task_routes={
            TASK_DELIVER_WEBHOOK: {"queue": QUEUE_WEBHOOKS},
            TASK_PLAN_BATCH: {"queue": QUEUE_WEBHOOKS},
        },
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_time_limit=settings.job_time_limit_s,
        task_soft_time_limit=max(1, settings.job_time_limit_s - 10),
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
    )
    return app
