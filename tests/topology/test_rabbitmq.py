"""The service with RabbitMQ as the Celery broker (OCRQ_BROKER_URL=amqp://...) and Redis as the job store.

The test starts its own `rabbitmq-server` on free loopback ports (AMQP, Erlang distribution and a
private epmd), with its data, logs and Erlang cookie in a temporary folder, and stops it after:
a RabbitMQ the machine runs on 5672 is never touched. Skipped where rabbitmq-server is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import imaging
import pytest
import redis
import requests

from cli.procs import free_port

SERVER_CANDIDATES = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)  # the real script, not the wrapper that su's
START_TIMEOUT_S = 60.0


def _server_binary() -> str | None:
    for path in SERVER_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("rabbitmq-server")


requires_rabbitmq = pytest.mark.skipif(
    _server_binary() is None or shutil.which("epmd") is None,
    reason="rabbitmq-server is not installed (apt-get install rabbitmq-server; scripts/install-system-deps.sh --test)",
)


def _connects(url: str) -> bool:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:  # noqa: BLE001  (any failure: not up yet)
        return False


@pytest.fixture(scope="module")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private RabbitMQ node; yields its AMQP URL."""
    exe = _server_binary()
    assert exe is not None
    base = tmp_path_factory.mktemp("rabbitmq")
    (base / "enabled_plugins").write_text("[].\n")  # none of the system's plugins (no management port)
    port, dist_port, epmd_port = free_port(), free_port(), free_port()
    env = dict(
        os.environ,
        HOME=str(base),  # its own .erlang.cookie
        RABBITMQ_NODENAME=f"ocrqtest{port}@localhost",
        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
        RABBITMQ_NODE_PORT=str(port),
        RABBITMQ_DIST_PORT=str(dist_port),
        ERL_EPMD_PORT=str(epmd_port),  # a private epmd, not the system's on 4369
        RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
        RABBITMQ_LOG_BASE=str(base / "log"),
        RABBITMQ_PID_FILE=str(base / "rabbitmq.pid"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
        RABBITMQ_CONFIG_FILE=str(base / "rabbitmq"),  # none: defaults (guest may log in over loopback)
    )
    log = (base / "server.out").open("wb")
    proc = subprocess.Popen([exe], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"amqp://guest:guest@127.0.0.1:{port}//"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while not _connects(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                out = (base / "server.out").read_text(errors="replace")[-2000:]
                pytest.fail(f"private rabbitmq-server did not start (exit {proc.poll()}):\n{out}")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the script, beam and its helpers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        subprocess.run(["epmd", "-kill"], check=False, env=env, capture_output=True, timeout=10)
        log.close()


@pytest.fixture
def rabbit_queues(rabbitmq: str):
    """Depths of the job queues on the private broker."""
    from kombu import Connection

    from shared.infra.settings import load_settings
    from workers.celery_app import JOB_QUEUES, make_celery

    app = make_celery(load_settings(broker_url=rabbitmq))
    queues = [q for q in app.conf.task_queues if q.name in JOB_QUEUES]

    def depths() -> dict[str, int]:
        with Connection(rabbitmq) as conn:
            ch = conn.default_channel
            return {q.name: q(ch).queue_declare(passive=True).message_count for q in queues}

    return depths


@requires_rabbitmq
def test_jobs_run_end_to_end_with_rabbitmq_as_the_broker(make_service, rabbitmq, rabbit_queues):
    port = free_port()
    service = make_service(env={"OCRQ_BROKER_URL": rabbitmq, "OCRQ_METRICS_PORT": str(port)})
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
    amqp_port = rabbitmq.rsplit(":", 1)[1].rstrip("/")
    assert f'"broker": "amqp://guest:**@127.0.0.1:{amqp_port}//"' in worker_log

    # Health answers with the AMQP broker too.
    health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert health.status_code == 200, health.text


def test_transport_options_are_broker_specific():
    from shared.infra.settings import load_settings
    from workers.celery_app import broker_kind, make_celery

    amqp = make_celery(load_settings(broker_url="amqp://guest:guest@127.0.0.1:1//")).conf.broker_transport_options
    assert "visibility_timeout" not in amqp and "queue_order_strategy" not in amqp
    assert amqp["confirm_publish"] is True
    red = make_celery(load_settings(redis_url="redis://127.0.0.1:1/0")).conf.broker_transport_options
    assert red["queue_order_strategy"] == "priority" and red["visibility_timeout"] > 0
    assert broker_kind("rediss://x") == "redis" and broker_kind("pyamqp://x") == "amqp"
