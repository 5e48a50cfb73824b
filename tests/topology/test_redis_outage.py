"""Redis outages with messages in a worker's hands (issue 24, item 1).

A job message a worker has taken from the queue but not yet run (prefetched, or waiting for its
retry countdown) sits in kombu's `unacked` hash while the worker holds it. When the broker
connection drops, kombu puts such messages back on the queue as it closes the channel, but with
Redis down that restore fails, and the message stays in `unacked` for the visibility timeout (an
hour); the job record says `queued` and only the reaper's OCRQ_QUEUED_RESEND_S (900 s) sent it
again. The test holds one delivered message unclaimed (the worker's job-store connection goes
through tests/faultproxy.py, hung, while its broker connection is direct), SIGKILLs Redis and
starts it again on the same port and AOF: with the default settings the job must succeed once,
within 60 s of Redis returning.

Two mechanisms bring such a message back, and each has a test of its own:
- the worker that held it puts it back when its consumer reconnects (workers/kombu_compat.py):
  tested with Redis up all along and only the worker's connections cut (a second proxy, refusing);
- the reaper puts back what was delivered before Redis last started (workers/reaper.py): tested
  with the worker that held it killed before Redis returned, and a fresh worker started after.
"""

from __future__ import annotations

import io
import json
import signal
import time
from collections.abc import Callable
from typing import Any

import redis as redis_lib
from PIL import Image

from tests.conftest import MakeService, RedisServer, Service, _kill_group, _wait_worker_ready
from tests.conftest import until as conftest_until
from tests.faultproxy import FaultProxy

# The settings that decide how soon a lost message comes back, at their defaults (make_service
# shortens the lease and the reaper's interval for other tests).
DEFAULTS = {"OCRQ_ENGINE": "checksum", "OCRQ_LEASE_S": "30", "OCRQ_REAPER_INTERVAL_S": "5",
            "OCRQ_QUEUED_RESEND_S": "900", "OCRQ_VISIBILITY_TIMEOUT_S": "3600"}
UNACKED = "unacked"  # kombu's Redis transport: delivered, not yet acknowledged messages


def _png(seed: int) -> bytes:
    img = Image.new("RGB", (120, 60), (255, 255, 255))
    img.putpixel((seed % 120, 7), (0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    # Redis is being killed and restarted under the test: its errors mean not yet
    return conftest_until(check, timeout, what, every=0.1, retry_on=(redis_lib.RedisError,))


def _finished(log_text: str, job_id: str) -> list[str]:
    """The statuses the worker logged `finished` with for this job (JSON log lines)."""
    out = []
    for line in log_text.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("message") == "finished" and doc.get("job_id") == job_id:
            out.append(doc.get("status"))
    return out


def _hold_one_message(svc: Service, redis_server: RedisServer, store_proxy: FaultProxy,
                      broker_url: str, name: str = "worker") -> str:
    """A worker whose job store is hung takes one job message and cannot claim it; returns the job id
    once that message is in kombu's unacked hash (and on disk) and the job is still queued."""
    worker_env = {"OCRQ_REDIS_URL": f"redis://{store_proxy.address}/0", "OCRQ_BROKER_URL": broker_url,
                  "OCRQ_LOG_FORMAT": "json"}
    _wait_worker_ready(svc.logs / f"{name}.log", svc.start_worker(name, extra_env=worker_env))
    r = redis_server.client()
    store_proxy.set_mode("hang")
    sub = svc.submit(_png(1), name="a.png")
    assert sub.status_code == 202, sub.text
    job_id = str(sub.json()["id"])
    until(lambda: any(job_id in v.decode() for v in r.hvals(UNACKED)), 20, "the message in the worker's hands")
    assert json.loads(r.hget(f"ocrq:job:{job_id}", "status") or b'""') == "queued"
    time.sleep(1.5)  # appendfsync everysec: the delivery is on disk before any kill
    return job_id


def _succeeds_once(svc: Service, job_id: str, since: float, logs: list[str]) -> None:
    """The job ends succeeded within 60 s of `since`, on its first claim, logged finished once."""
    job = svc.wait(job_id, timeout=60)
    took = time.monotonic() - since
    assert job["status"] == "succeeded", job
    assert took < 60, f"the job ended {took:.0f} s after Redis returned"
    assert job["attempts"] == 1, job

    def finished() -> list[str]:
        return [s for name in logs for s in _finished((svc.logs / f"{name}.log").read_text(errors="replace"), job_id)]

    until(finished, 10, "the worker's finished line")
    time.sleep(2)  # a second delivery (a restored message and any copy) has had its chance to run
    assert finished() == ["succeeded"], finished()


def test_message_in_hand_when_redis_dies_runs_once_redis_is_back(
    make_service: MakeService, redis_server: RedisServer
) -> None:
    with FaultProxy(redis_server.port) as store_proxy:
        svc = make_service(worker=False, env=DEFAULTS)
        job_id = _hold_one_message(svc, redis_server, store_proxy, svc.redis_url)
        redis_server.restart()  # SIGKILL, then the same port and AOF
        back = time.monotonic()
        store_proxy.set_mode("pass")
        _succeeds_once(svc, job_id, back, ["worker"])


def test_worker_cut_off_from_redis_puts_back_what_it_held_when_it_reconnects(
    make_service: MakeService, redis_server: RedisServer
) -> None:
    """Redis stays up (so the reaper's restart rule has nothing to do): only this worker's
    connections break, and its consumer's restore fails against the refusing proxy."""
    with FaultProxy(redis_server.port) as store_proxy, FaultProxy(redis_server.port) as broker_proxy:
        svc = make_service(worker=False, env=DEFAULTS)
        job_id = _hold_one_message(svc, redis_server, store_proxy, f"redis://{broker_proxy.address}/0")
        broker_proxy.set_mode("refuse")
        until(lambda: "Connection to broker lost" in (svc.logs / "worker.log").read_text(), 20,
              "the worker to lose its broker connection")
        time.sleep(3)  # its restore, and reconnects, are refused meanwhile
        broker_proxy.set_mode("pass")
        back = time.monotonic()
        store_proxy.set_mode("pass")
        _succeeds_once(svc, job_id, back, ["worker"])
        assert redis_server.client().hlen(UNACKED) == 0


def test_message_held_by_a_worker_that_died_comes_back_when_redis_restarts(
    make_service: MakeService, redis_server: RedisServer
) -> None:
    """The worker that held the message is gone (nothing in memory to put it back): the reaper of
    a fresh worker puts back what was delivered before Redis started."""
    with FaultProxy(redis_server.port) as store_proxy:
        svc = make_service(worker=False, env=DEFAULTS)
        job_id = _hold_one_message(svc, redis_server, store_proxy, svc.redis_url, name="held")
        _kill_group(svc.procs.pop("held"), signal.SIGKILL)
        redis_server.restart()
        back = time.monotonic()
        _wait_worker_ready(svc.logs / "fresh.log", svc.start_worker("fresh", extra_env={"OCRQ_LOG_FORMAT": "json"}))
        _succeeds_once(svc, job_id, back, ["held", "fresh"])
        assert "delivered before the broker restarted" in (svc.logs / "fresh.log").read_text()


def _take(queue: Any, redis_url: str, n: int, timeout: float = 20) -> list[Any]:
    """`n` messages from a kombu SimpleQueue. A failure says where the messages are and who else is
    connected: one CI run timed out on the first 5 s `get` with no cause on record."""
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        try:
            got.append(queue.get(timeout=1))
        except queue.Empty:
            pass
    if len(got) < n:
        # Asked on a connection of its own: the consumer's channel still has a BRPOP in flight,
        # whose late reply would be read as the answer to these commands.
        r = redis_lib.Redis.from_url(redis_url)
        clients = [c.get("name") or c.get("cmd") for c in r.client_list()]
        raise AssertionError(f"took {len(got)} of {n} in {timeout:.0f} s; queue holds {r.llen(queue.queue.name)}, "
                             f"unacked {r.hlen(UNACKED)}; clients {clients}")
    return got


def test_reaper_puts_back_only_what_was_delivered_before_redis_started(redis_db: str) -> None:
    from kombu import Connection

    from workers.reaper import restore_orphaned_messages

    with Connection(redis_db, transport_options={"visibility_timeout": 3600}) as conn:
        client = conn.default_channel.client
        if int(client.info("server")["uptime_in_seconds"]) < 3:
            time.sleep(3)  # "now" must be past the second Redis started in
        queue = conn.SimpleQueue("interactive")
        for n in ("before", "after"):
            queue.put({"n": n})
        held = _take(queue, redis_db, 2)  # delivered, not acknowledged: both in unacked
        assert client.llen("interactive") == 0 and client.hlen(UNACKED) == 2
        started = int(client.time()[0]) - int(client.info("server")["uptime_in_seconds"])
        before = next(m for m in held if m.payload["n"] == "before")
        client.zadd("unacked_index", {before.delivery_tag: started - 5})  # as if delivered before a restart

        assert restore_orphaned_messages(conn.default_channel) == 1
        assert client.hlen(UNACKED) == 1 and client.llen("interactive") == 1
        (again,) = _take(queue, redis_db, 1)
        assert again.payload == {"n": "before"} and again.delivery_info.get("redelivered") is True
        assert restore_orphaned_messages(conn.default_channel) == 0  # the other was delivered after the start
        for m in (*held, again):
            m.ack()
        queue.close()


def test_a_message_the_restart_lost_is_sent_again_within_a_minute(
    make_service: MakeService, redis_server: RedisServer
) -> None:
    """The message itself did not survive the restart: sent in the old server's last second
    (AOF everysec), or popped by a worker whose channel died before recording it as unacked. The
    job record says queued and the message is in no queue and in no worker's hands: the reaper
    sends it again after the broker's start (OCRQ_QUEUED_RESEND_S, 900 s, before)."""
    svc = make_service(worker=False, env=DEFAULTS)
    r = redis_lib.Redis.from_url(svc.redis_url)
    sub = svc.submit(_png(3), name="c.png")
    assert sub.status_code == 202, sub.text
    job_id = str(sub.json()["id"])
    assert r.delete("interactive") == 1  # the one message, lost
    time.sleep(1.5)  # on disk: the restarted server has the job record and no message
    redis_server.restart()
    back = time.monotonic()
    until(lambda: r.ping(), 20, "Redis back")
    svc.start_worker()
    _wait_worker_ready(svc.logs / "worker.log", svc.procs["worker"])
    _succeeds_once(svc, job_id, back, ["worker"])
