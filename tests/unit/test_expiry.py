"""Retention and lost messages, swept by the reaper: real Redis, a real local store, a real runner."""

from __future__ import annotations

import imaging
import pytest
from runner_harness import BoxEngine, runner_env, submit

from shared.infra import keyspace
from shared.infra.blobs import BlobNotFound, input_key
from shared.jobs import Status, now_ms
from shared.jobs.listing import list_for_tenant
from workers.reaper import expire_once, reap_once
from workers.runner import JobRunner


@pytest.fixture
def env(redis_db, tmp_path):  # type: ignore[no-untyped-def]
    return runner_env(redis_db, tmp_path)

def test_expired_jobs_lose_their_result_input_and_record_and_leave_the_list(env) -> None:
    settings, store, blobs = env
    data = imaging.jpeg(320, 200)
    done = submit(store, blobs, data)
    assert JobRunner(settings, store, blobs, BoxEngine()).run(done).status == "succeeded"
    result_key = store.get(done).result_key
    keep = submit(store, blobs, data)  # same bytes, a later job: the shared input must survive the first expiry
    store.r.zadd(store.EXPIRING, {done: 1})  # the first one is past its retention
    assert expire_once(store, blobs, now=now_ms()) == 1
    assert [j.id for j in list_for_tenant(store.r, "acme", limit=10)] == [keep]  # the list stays consistent
    assert store.get(done) is None
    try:
        blobs.get(result_key)
        raise AssertionError("the result survived its job")
    except BlobNotFound:
        pass
    assert blobs.get(input_key("acme", store.get(keep).input.sha256)) == data  # still used by `keep`

    store.r.zadd(store.EXPIRING, {keep: 1})
    assert expire_once(store, blobs, now=now_ms()) == 1
    try:
        blobs.get(input_key("acme", imaging_sha(data)))
        raise AssertionError("the last user's input survived")
    except BlobNotFound:
        pass
    assert not store.r.keys(keyspace.input_refs("acme", "*"))


def test_the_sweep_costs_what_expires_not_what_lives(env) -> None:
    settings, store, blobs = env
    for i in range(50):
        submit(store, blobs, imaging.jpeg(200 + i, 100))
    assert expire_once(store, blobs, now=now_ms()) == 0  # nothing is due: one ZRANGEBYSCORE, no record read
    assert store.r.zcard(store.EXPIRING) == 50


def test_a_queued_job_whose_message_was_lost_is_sent_again(env) -> None:
    settings, store, blobs = env
    job_id = submit(store, blobs, imaging.jpeg())
    store.mark_sent(job_id)  # sent ... and then the message vanished with a Redis restart
    sent: list[str] = []
    assert reap_once(store, lambda j, q: sent.append(j), 30, now=now_ms() + 60_000, queued_resend_s=900) == 0
    assert reap_once(store, lambda j, q: sent.append(j), 30, now=now_ms() + 901_000, queued_resend_s=900) == 1
    assert sent == [job_id]
    # once claimed it leaves the queued set: no more resends
    store.claim(job_id, "w:1", 30)
    assert store.r.zscore(store.QUEUED, job_id) is None
    assert store.get(job_id).status == Status.running


def test_expired_jobs_take_their_delivered_webhook_events_along(env) -> None:
    """A job's events, deliveries and attempt log go with the job once every delivery is done; an
    event still pending, or failed (a replay may send it again), keeps its TTL; and the tenant's
    replay index loses entries older than that TTL, which no key expiry removes."""
    from shared.webhooks.endpoints import EndpointStore
    from shared.webhooks.events import emit_job_event
    from shared.webhooks.outbox import Outbox, split_member

    settings, store, blobs = env
    ob = Outbox(store.r, settings)
    EndpointStore(store.r).create("acme", "https://wms.example/hook", ["job.succeeded"])
    runner = JobRunner(settings, store, blobs, BoxEngine())
    ids = [submit(store, blobs, imaging.jpeg(300 + i, 200)) for i in range(3)]
    for job_id in ids:
        assert runner.run(job_id).status == "succeeded"
        emit_job_event(ob, store.get(job_id), blobs)
    delivered, failed, pending = ids
    msg = {job_id: next(iter(store.r.smembers(keyspace.webhook_subject(job_id)))).decode() for job_id in ids}
    for m, token in ob.claim_due(10):
        msg_id, ep_id = split_member(m)
        if msg_id == msg[pending]:
            continue  # still on its way
        ob.swap(m, token, None)
        ob.update_delivery(msg_id, ep_id, status="delivered" if msg_id == msg[delivered] else "failed")
        ob.log_attempt(next(j for j in ids if msg[j] == msg_id), {"outcome": "whatever"})
    stale = "msg_" + "0" * 32  # an index entry whose event expired long ago (a key TTL, no sweep)
    store.r.zadd(keyspace.webhook_events("acme"), {stale: now_ms() - ob.ttl_s * 1000 - 1})
    for job_id in ids:
        store.r.zadd(store.EXPIRING, {job_id: 1})

    assert expire_once(store, blobs, now=now_ms(), outbox=ob) == 3
    assert ob.events_of(delivered) == [] and not store.r.exists(
        keyspace.webhook_subject(delivered), keyspace.webhook_log(delivered), keyspace.webhook_deliveries(msg[delivered]))
    assert not store.r.keys(keyspace.webhook_delivery(msg[delivered], "*"))
    assert [e.id for e in ob.events_of(failed)] == [msg[failed]]  # a replay may still send it
    assert [e.id for e in ob.events_of(pending)] == [msg[pending]] and ob.deliveries_of(msg[pending])
    index = {m.decode() for m in store.r.zrange(keyspace.webhook_events("acme"), 0, -1)}
    assert index == {msg[failed], msg[pending]}


def imaging_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
