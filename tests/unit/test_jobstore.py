"""The job state machine against a real redis-server: every change is a compare-and-set."""

import threading

import pytest

from shared.infra.redis_client import connect
from shared.jobs import InputRef, Job, JobError, Status, new_job_id
from shared.jobs.listing import list_for_tenant
from shared.jobs.store import JobStore


@pytest.fixture
def store(redis_db):
    return JobStore(connect(redis_db), retention_s=3600)


def make_job(tenant="acme", created_at=None):
    job = Job(
        id=new_job_id(),
        tenant=tenant,
        input=InputRef(bucket="b", key="k", sha256="0" * 64, bytes=1, content_type="image/png", width=1, height=1),
    )
    if created_at is not None:
        job.created_at = created_at
    return job


def test_ids_are_long_and_random():
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) >= 4 + 26 for i in ids)  # >= 160 bits of base64url


def test_happy_path(store):
    job = make_job()
    store.create(job)
    assert store.claim(job.id, "w1", 30).applied
    got = store.get(job.id)
    assert (got.status, got.attempts, got.worker) == (Status.running, 1, "w1")
    assert store.succeed(job.id, "w1", "results/x.json").applied
    done = store.get(job.id)
    assert done.status == Status.succeeded and done.result_key == "results/x.json" and done.finished_at


def test_only_one_of_many_racing_claims_wins(store):
    job = make_job()
    store.create(job)
    wins = []
    threads = [
        threading.Thread(target=lambda i=i: wins.append(store.claim(job.id, f"w{i}", 30).applied)) for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1 and store.get(job.id).attempts == 1


def test_a_redelivered_task_cannot_overwrite_a_finished_job(store):
    job = make_job()
    store.create(job)
    store.claim(job.id, "w1", 30)
    store.succeed(job.id, "w1", "r1")
    assert not store.claim(job.id, "w2", 30).applied
    assert not store.fail(job.id, JobError(code="x", message="y")).applied
    assert not store.take_over(job.id, "w2", 30, "w1").applied
    assert store.get(job.id).status == Status.succeeded and store.get(job.id).result_key == "r1"


def test_a_stale_worker_cannot_finish_a_job_taken_over(store):
    job = make_job()
    store.create(job)
    store.claim(job.id, "old", 30)
    assert store.take_over(job.id, "new", 30, "old").applied
    assert not store.succeed(job.id, "old", "stale").applied
    assert not store.heartbeat(job.id, "old", 30)
    assert store.succeed(job.id, "new", "fresh").applied
    assert store.get(job.id).attempts == 2 and store.get(job.id).result_key == "fresh"


def test_cancel_only_while_queued(store):
    a, b = make_job(), make_job()
    store.create(a)
    store.create(b)
    assert store.cancel(a.id).applied and store.get(a.id).status == Status.canceled
    store.claim(b.id, "w", 30)
    t = store.cancel(b.id)
    assert not t.applied and t.status == Status.running


def test_final_transition_publishes_on_the_job_channel(store):
    job = make_job()
    store.create(job)
    ps = store.r.pubsub(ignore_subscribe_messages=True)
    ps.subscribe(store.channel(job.id))
    store.claim(job.id, "w", 30)
    store.succeed(job.id, "w", "r")
    msg = None
    for _ in range(20):
        msg = ps.get_message(timeout=0.1)
        if msg:
            break
    assert msg and msg["data"] == b"succeeded"


def test_listing_is_per_tenant_newest_first_with_cursor(store):
    mine = [make_job("acme", created_at=1_000 + i) for i in range(7)]
    for j in mine + [make_job("other", created_at=5_000)]:
        store.create(j)
    page1 = list_for_tenant(store.r, "acme", limit=3)
    assert [j.id for j in page1] == [j.id for j in reversed(mine)][:3]
    last = page1[-1]
    page2 = list_for_tenant(store.r, "acme", limit=10, before_ms=last.created_at, before_id=last.id)
    assert [j.id for j in page2] == [j.id for j in reversed(mine)][3:]
    assert store.get_for_tenant(mine[0].id, "other") is None


def test_unsent_until_marked(store):
    job = make_job()
    store.create(job)
    assert store.unsent_before(job.created_at + 1) == [job.id]
    store.mark_sent(job.id)
    assert store.unsent_before(job.created_at + 1) == []
