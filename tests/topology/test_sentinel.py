"""Redis Sentinel: the URL form, failover followed by connect(), WAIT-based replica confirmation.

Real processes on loopback (tests/redis_ha.py): one primary, one replica (two where the test says),
three Sentinels.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import redis
from redis_ha import RedisHA, redis_ha  # noqa: F401  (fixture)

from shared.infra.redis_client import (
    RedisURLError,
    ReplicationTimeout,
    ReplicaWaiter,
    celery_sentinel_settings,
    connect,
    live_replicas,
    parse_sentinel_url,
    wait_for_replicas,
)


def test_sentinel_url_forms():
    cfg = parse_sentinel_url("redis+sentinel://:s%40cret@h1:26380,h2,[::1]:26381/mymaster/3?sentinel_password=sp")
    assert cfg.sentinels == (("h1", 26380), ("h2", 26379), ("::1", 26381))
    assert (cfg.master_name, cfg.db, cfg.password, cfg.sentinel_password) == ("mymaster", 3, "s@cret", "sp")
    assert parse_sentinel_url("redis+sentinel://h1/m").db == 0
    for bad, needle in [("redis+sentinel:///m/0", "names no Sentinel"), ("redis+sentinel://h1/", "MASTER_NAME"),
                        ("redis+sentinel://h1:x/m", "bad port"), ("redis+sentinel://h1/m/zero", "not a number"),
                        ("redis+sentinel://h1/m?pasword=x", "unknown option")]:
        with pytest.raises(RedisURLError, match=needle):
            parse_sentinel_url(bad)


def test_celery_settings_for_kombu_sentinel_transport():
    s = celery_sentinel_settings("redis+sentinel://:pw@h1:26379,h2:26380/mymaster/2?sentinel_password=sp")
    assert s["broker_url"] == "sentinel://:pw@h1:26379/2;sentinel://:pw@h2:26380/2"
    assert s["broker_transport_options"]["master_name"] == "mymaster"
    assert s["broker_transport_options"]["sentinel_kwargs"]["password"] == "sp"
    assert "result_backend" not in s
    both = celery_sentinel_settings("redis+sentinel://h1/m", result_backend=True)
    assert both["result_backend"] == "sentinel://h1:26379/0"
    assert both["result_backend_transport_options"]["master_name"] == "m"


def test_client_follows_failover(tmp_path: Path):
    with RedisHA(tmp_path / "ha", password="pw") as ha:
        client = connect(ha.url(), "ocrq-test")
        client.set("job:1", "queued")
        assert wait_for_replicas(client, 1, 2000) >= 1
        old = ha.kill_primary()
        killed_at = time.monotonic()
        # A caller retries (the gateway answers 503 meanwhile); the same client object, no restart.
        deadline = killed_at + 20
        while True:
            try:
                client.set("job:2", "queued")
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
                assert time.monotonic() < deadline, "client did not reach a new primary within 20 s"
                time.sleep(0.1)
        switch_s = time.monotonic() - killed_at
        new = ha.primary_port()
        assert new != old
        assert client.get("job:1") == b"queued", "the write confirmed by WAIT survived the primary"
        assert ha.node_client(new).get("job:2") == b"queued", "the write went to the new primary"
        assert switch_s < 15, switch_s
        # The old primary comes back (claiming to be a primary until the Sentinels turn it into a
        # replica, some seconds later); the client stays on the one the Sentinels name.
        ha.start_node(old)
        client.set("job:3", "queued")
        assert ha.node_client(new).get("job:3") == b"queued"


def test_wait_for_replicas_confirms_and_times_out(redis_ha: RedisHA):  # noqa: F811
    client = connect(redis_ha.url())
    # A write on one pooled connection, WAIT on another: still covered (the probe orders them).
    other = client.connection_pool.get_connection()
    try:
        client.set("k", "v")
    finally:
        client.connection_pool.release(other)
    assert wait_for_replicas(client, 1, 2000) == 1
    assert wait_for_replicas(client, 0, 10) == 0
    with pytest.raises(ReplicationTimeout, match="1 of 2 Redis replicas"):
        wait_for_replicas(client, 2, 100)
    (replica,) = redis_ha.replica_ports()
    redis_ha.kill(replica)
    started = time.monotonic()
    with pytest.raises(ReplicationTimeout) as err:
        wait_for_replicas(client, 1, 300)
    assert err.value.acked == 0 and err.value.wanted == 1
    assert 0.25 < time.monotonic() - started < 2, "WAIT honours its timeout"


def test_replica_waiter_waits_for_every_live_replica(tmp_path: Path):
    """WAIT 1 with two replicas confirms a write one of them lacks, and Sentinel may promote that one
    (tests/topology/test_failover.py lost 24 accepted jobs so). The waiter waits for both."""
    with RedisHA(tmp_path / "ha", replicas=2) as ha:
        client = connect(ha.url())
        waiter = ReplicaWaiter(client, 1, 300)
        assert live_replicas(client) == 2 and waiter.wanted() == 2
        client.set("a", "1")
        assert waiter.wait() == 2
        lagging, other = ha.replica_ports()
        proc = ha.nodes[lagging].proc
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)  # a replica that falls behind (a congested link, a slow disk)
        try:
            client.set("b", "1")
            assert wait_for_replicas(client, 1, 300) == 1, "the old check: *some* replica has it"
            with pytest.raises(ReplicationTimeout, match="1 of 2"):
                waiter.wait()  # not the lagging one: a submit now answers 503, not a 202 it could lose
        finally:
            proc.send_signal(signal.SIGCONT)
        assert waiter.wait() == 2
        assert ha.node_client(lagging).get("b") == b"1"

        # A replica that is gone: counted again at once, the write is confirmed by the one left.
        ha.kill(lagging)
        deadline = time.monotonic() + 5
        while True:
            try:
                assert waiter.wait() == 1
                break
            except ReplicationTimeout:  # the primary may take a moment to drop the dead link
                assert time.monotonic() < deadline
        assert waiter.wanted() == 1
        assert ha.node_client(other).get("a") == b"1"
        # The floor still holds: fewer live replicas than OCRQ_REDIS_MIN_REPLICAS is a 503.
        with pytest.raises(ReplicationTimeout, match="1 of 2"):
            ReplicaWaiter(client, 2, 200).wait()
        assert ReplicaWaiter(client, 0, 200).wait() == 0


def test_submits_are_confirmed_again_after_a_failover_with_two_replicas(tmp_path: Path):
    """After the primary is lost the new one has one replica: the waiter wants one, not two, so the
    gateway goes back to 202 without anyone restarting anything (no permanent 503)."""
    with RedisHA(tmp_path / "ha", replicas=2) as ha:
        client = connect(ha.url())
        waiter = ReplicaWaiter(client, 1, 500)
        client.set("before", "1")
        assert waiter.wait() == 2
        old = ha.kill_primary()
        ha.wait_for_failover(old, timeout_s=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.set("after", "1")
                acked = waiter.wait()
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, ReplicationTimeout):
                assert time.monotonic() < deadline, "writes were not confirmed again within 30 s of the failover"
                time.sleep(0.2)
        assert acked == 1 and waiter.wanted() == 1
        assert client.get("before") == b"1"


def test_a_broker_connection_broken_mid_poll_closes_without_ending_the_worker(redis_db: str):
    """Celery's consumer, on a broker connection error, collects the connection (which detaches the
    transport even when the polling channel could not be closed) and then closes it. kombu 5.7 then
    rebuilt a pool from the detached transport: AttributeError, and the webhook worker exited
    mid-failover (tests/topology/test_failover.py, 1 run of 9). workers.kombu_compat turns it into the
    connection error kombu ignores, so the consumer reconnects."""
    from kombu import Connection, Consumer, Producer, Queue

    from workers import kombu_compat

    def close_after_detach() -> None:
        conn = Connection(redis_db)
        ch = conn.default_channel
        q = Queue("compat-q")
        Producer(ch).publish({"x": 1}, routing_key="compat-q", declare=[q])
        got: list[object] = []
        Consumer(ch, [q], callbacks=[lambda body, m: got.append(m)]).consume()
        conn.drain_events(timeout=5)
        assert got, "the message was delivered (unacknowledged)"
        conn._do_close_transport()  # what collect() leaves behind when the channel's close stopped early
        conn.close()

    kombu_compat.install()
    kombu_compat.install()  # idempotent
    close_after_detach()  # raised AttributeError: 'NoneType' object has no attribute 'hostname'


def test_a_replay_is_an_acceptance_too_and_waits_for_the_replicas(tmp_path: Path):
    """The first request stores the job, no replica confirms it: 503. Its retry with the same
    Idempotency-Key must not answer 200 for that unconfirmed record (tests/topology/test_failover.py lost 36
    jobs so, when a second failover demoted the primary holding them); it waits for the replicas
    like a submit, and answers 200 once they hold the job."""
    import io

    from PIL import Image

    from api.app import create_app
    from shared.infra.settings import load_settings
    from shared.tenants import KeyStore

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (1, 2, 3)).save(buf, "PNG")
    with RedisHA(tmp_path / "ha", replicas=1) as ha:
        settings = load_settings(redis_url=ha.url(), storage_url=f"file://{tmp_path / 'blobs'}",
                                 redis_min_replicas=1, redis_wait_timeout_ms=200)
        client = create_app(settings, send_job=lambda job_id, queue: None).test_client()
        key = KeyStore(connect(ha.url())).create("acme", "test")[0]
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "replay-1"}

        def submit():  # type: ignore[no-untyped-def]
            return client.post("/v1/jobs", data={"file": (io.BytesIO(buf.getvalue()), "a.png")},
                               content_type="multipart/form-data", headers=headers)

        (replica,) = ha.replica_ports()
        proc = ha.nodes[replica].proc
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)
        try:
            first = submit()
            assert first.status_code == 503, first.get_data(as_text=True)
            assert first.get_json()["type"].endswith("replicas_unavailable") and first.headers["Retry-After"]
            retry = submit()
            assert retry.status_code == 503, "a replay answered for a record no replica holds"
            assert retry.get_json()["type"].endswith("replicas_unavailable")
        finally:
            proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 10
        while (ok := submit()).status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert ok.status_code == 200, ok.get_data(as_text=True)
        job_id = ok.get_json()["id"]
        assert ha.node_client(replica).exists(f"ocrq:job:{job_id}"), "confirmed: the replica holds it"
