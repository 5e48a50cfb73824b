"""The service with RabbitMQ as the Celery broker (OCRQ_BROKER_URL=amqp://...) and Redis as the job store.

Needs a RabbitMQ on 127.0.0.1:5672 with the default guest/guest user; skipped where there is none.
It uses the default vhost and the real queue names (creating a vhost needs the management API),
so it purges `interactive` and `bulk` first and holds a file lock against a concurrent run of
itself on the same machine.
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from pathlib import Path

import pytest
import redis
import requests

import imaging
from cli.procs import free_port

HOST, PORT = "127.0.0.1", 5672
BROKER_URL = os.environ.get("OCRQ_TEST_AMQP_URL", f"amqp://guest:guest@{HOST}:{PORT}//")


def _rabbitmq_reachable() -> str | None:
    try:
        with socket.create_connection((HOST, PORT), timeout=2):
            pass
    except OSError as err:
        return f"no RabbitMQ on {HOST}:{PORT} ({err})"
    from kombu import Connection

    try:
        with Connection(BROKER_URL, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as err:
        return f"RabbitMQ on {HOST}:{PORT} does not accept the test's login: {err}"
    return None


_why_not = _rabbitmq_reachable()
requires_rabbitmq = pytest.mark.skipif(_why_not is not None, reason=_why_not or "")


@pytest.fixture
def rabbit_queues():
    """Exclusive use of the job queues for this test: a lock, then empty queues."""
    from kombu import Connection

    from shared.settings import load_settings
    from workers.celery_app import JOB_QUEUES, make_celery

    lock = open(Path(tempfile.gettempdir()) / "ocrq-test-rabbitmq.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    app = make_celery(load_settings(broker_url=BROKER_URL))
    queues = [q for q in app.conf.task_queues if q.name in JOB_QUEUES]

    def depths() -> dict[str, int]:
        with Connection(BROKER_URL) as conn:
            ch = conn.default_channel
            return {q.name: q(ch).queue_declare(passive=True).message_count for q in queues}

    with Connection(BROKER_URL) as conn:
        ch = conn.default_channel
        for q in queues:
            bound = q(ch)
            bound.declare()  # as Celery declares it: durable, direct exchange of the same name
            bound.purge()
    try:
        yield depths
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


@requires_rabbitmq
def test_jobs_run_end_to_end_with_rabbitmq_as_the_broker(make_service, rabbit_queues):
    port = free_port()
    service = make_service(env={"OCRQ_BROKER_URL": BROKER_URL, "OCRQ_METRICS_PORT": str(port)})
    r = redis.Redis.from_url(service.redis_url)

    ids = {}
    for priority in ("interactive", "bulk"):
        resp = service.submit(imaging.label("SKU 48213-B QTY 12"), name="label.png", priority=priority)
        assert resp.status_code == 202, resp.text
        ids[priority] = resp.json()["id"]
    for priority, job_id in ids.items():
        job = service.wait(job_id)
        assert job["status"] == "succeeded", (priority, job)
        assert job["result"]["text"].strip() == "SKU 48213-B QTY 12"
        assert job["attempts"] == 1

    # The messages went through RabbitMQ, not through Redis lists, and none is left behind.
    assert not r.exists("interactive") and not r.exists("bulk")
    assert rabbit_queues() == {"interactive": 0, "bulk": 0}
    worker_log = (service.logs / "worker.log").read_text()
    assert '"broker": "amqp://guest:**@127.0.0.1:5672//"' in worker_log

    # Health answers with the AMQP broker too.
    health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert health.status_code == 200, health.text


def test_transport_options_are_broker_specific():
    from shared.settings import load_settings
    from workers.celery_app import broker_kind, make_celery

    amqp = make_celery(load_settings(broker_url=BROKER_URL)).conf.broker_transport_options
    assert "visibility_timeout" not in amqp and "queue_order_strategy" not in amqp
    assert amqp["confirm_publish"] is True
    red = make_celery(load_settings(redis_url="redis://127.0.0.1:1/0")).conf.broker_transport_options
    assert red["queue_order_strategy"] == "priority" and red["visibility_timeout"] > 0
    assert broker_kind("rediss://x") == "redis" and broker_kind("pyamqp://x") == "amqp"
