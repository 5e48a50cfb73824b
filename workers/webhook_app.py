"""The webhook worker's Celery app (`celery -A workers.webhook_app worker -Q webhooks --pool threads`).

It runs no engine and touches no GPU. Besides the task it runs the scheduler loop (a thread in
the worker process) that turns due deliveries in the Redis ``due`` set into task messages; see
workers/webhooks/dispatch.py for why retries live in Redis and not in Celery countdowns.
"""

from __future__ import annotations

import importlib
import logging
import threading

from celery.signals import worker_ready, worker_shutdown

from shared.redis_client import connect
from shared.settings import get_settings
from workers.celery_app import QUEUE_WEBHOOKS, TASK_DELIVER_WEBHOOK, make_celery

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

# Other features route tasks to the `webhooks` queue (batch planning); their modules register
# them on this app when they are installed.
for _name in ("workers.batch_tasks",):
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as err:
        if err.name != _name:
            raise

_dispatcher = None
_stop = threading.Event()
_thread: threading.Thread | None = None


def dispatcher():  # type: ignore[no-untyped-def]
    global _dispatcher
    if _dispatcher is None:
        from workers.webhooks.dispatch import Dispatcher

        _dispatcher = Dispatcher(settings, connect(settings.redis_url))
    return _dispatcher


@app.task(name=TASK_DELIVER_WEBHOOK, ignore_result=True)
def deliver_webhook(member: str, token: int) -> str:
    outcome = dispatcher().attempt(member, int(token))
    log.info("webhook %s: %s", member, outcome)
    return outcome


def _send(member: str, token: int) -> None:
    app.send_task(TASK_DELIVER_WEBHOOK, args=[member, token], queue=QUEUE_WEBHOOKS)


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
