"""The finished-hooks of a job survive being cut off: a job that finished keeps its event and its batch count.

Found by tests/topology/test_failover.py: the runner's transition to `succeeded` landed, the primary was
SIGKILLed (or the worker was) before the event was written, and nothing wrote it again, so the
endpoint never heard of a finished job. Now the transition's own script puts the job on
`hooks_pending`; the runner clears it once every hook ran, and the reaper's sweep runs the hooks
of whatever is left. Every hook is idempotent, so a hook run twice (runner and sweep, or two
sweeps) sends one event and counts the batch item once.

The failover tests run real processes: a primary, a replica and three Sentinels on loopback
(tests/redis_ha.py); the others a plain redis-server.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from batch_harness import Harness, digit_png
from redis_ha import RedisHA, redis_ha  # noqa: F401  (fixture)

from models.checksum import ChecksumEngine
from shared.batches.accounting import Accountant, batch_hook
from shared.batches.model import SWEEP_GRACE_MS, Batch, bkey
from shared.batches.sources import Item
from shared.infra import keyspace
from shared.infra.redis_client import connect, wait_for_replicas
from shared.infra.settings import Settings, load_settings
from shared.infra.storage import open_blob_store
from shared.jobs.model import InputRef, Job, JobError, Status, new_job_id, now_ms
from shared.jobs.store import JobStore
from shared.webhooks.endpoints import EndpointStore
from shared.webhooks.outbox import DUE, Outbox, member, msg_id_for
from workers.finished_hooks import finished_hooks
from workers.reaper import HOOKS_GRACE_MS, sweep_hooks
from workers.runner import JobRunner
from workers.webhooks.hooks import job_hook

INPUT = InputRef(bucket="b", key="k", sha256="0" * 64, bytes=1, content_type="image/png", width=1, height=1)


def test_hook_writes_the_event_through_a_failover(redis_ha: RedisHA, tmp_path: Path) -> None:  # noqa: F811
    settings = load_settings(redis_url=redis_ha.url(), storage_url=f"file://{tmp_path / 'blobs'}",
                             webhook_allow_http=True)
    client = connect(redis_ha.url(), "ocrq-test")
    EndpointStore(client).create("acme", "http://127.0.0.1:9/wms", ["job.succeeded"])
    hook = job_hook(settings, JobStore(client, settings.retention_s), celery=None)
    job = Job(id=new_job_id(), tenant="acme", status=Status.succeeded, finished_at=now_ms(), input=INPUT)
    client.ping()  # the pool holds a connection to the primary that is about to die

    redis_ha.kill_primary()
    hook(job)  # before the Sentinels have elected anyone: no primary answers yet

    event = Outbox(client, settings).event(msg_id_for(job.id, "job.succeeded"))
    assert event is not None, "the job.succeeded event was lost with the primary"
    assert event.type == "job.succeeded"


def test_runner_finishes_a_job_through_a_failover(redis_ha: RedisHA, tmp_path: Path) -> None:  # noqa: F811
    settings = load_settings(redis_url=redis_ha.url(), storage_url=f"file://{tmp_path / 'blobs'}")
    client = connect(redis_ha.url(), "ocrq-test")
    store = JobStore(client, settings.retention_s)
    job = Job(id=new_job_id(), tenant="acme", status=Status.succeeded, finished_at=now_ms(), input=INPUT)
    store.create(job)
    wait_for_replicas(client, 1, 2000)  # the record survives the primary; only the connection is lost
    seen: list[str] = []
    runner = JobRunner(settings, store, open_blob_store(settings), ChecksumEngine(),
                       on_finished=[lambda j: seen.append(j.id)])
    client.ping()

    redis_ha.kill_primary()
    runner._finished(job.id)  # what the runner does right after its succeeded compare-and-set

    assert seen == [job.id], "the finished-hooks never ran: the job's event is lost"


# ------------------------------------------------------------------ hooks cut off after the transition
class Died(BaseException):
    """The worker process dies here: nothing after this line of the runner runs."""


def _die(job: Job) -> None:
    raise Died()


@pytest.fixture
def env(redis_db: str, tmp_path: Path) -> tuple[Settings, JobStore, Outbox]:
    settings = load_settings(redis_url=redis_db, storage_url=f"file://{tmp_path / 'blobs'}",
                             webhook_allow_http=True)
    client = connect(redis_db, "ocrq-test")
    EndpointStore(client).create("acme", "http://127.0.0.1:9/wms", ["job.succeeded", "job.failed"])
    return settings, JobStore(client, settings.retention_s), Outbox(client, settings)


def _finished_by_cas(store: JobStore, *, fail: bool = False) -> Job:
    """A job a worker took to succeeded (or failed) with the compare-and-set, then died: no hook ran."""
    job = Job(id=new_job_id(), tenant="acme", input=INPUT)
    store.create(job)
    assert store.claim(job.id, "host:1", 30).applied
    if fail:
        t = store.fail(job.id, JobError(code="engine_error", message="boom"), worker="host:1")
    else:
        t = store.succeed(job.id, "host:1", f"results/acme/{job.id}.json")
    assert t.applied
    return job


def _pending(store: JobStore) -> list[str]:
    return store.hooks_pending_before(now_ms() + 10**9)


def _deliveries(outbox: Outbox, job_id: str, event_type: str = "job.succeeded") -> tuple[int, list[dict], int]:
    """(events of the job, deliveries of its event, due-set members of those deliveries)."""
    msg = msg_id_for(job_id, event_type)
    dlvs = outbox.deliveries_of(msg)
    due = sum(1 for d in dlvs if outbox.r.zscore(DUE, member(msg, d["ep"])) is not None)
    return len(outbox.events_of(job_id)), dlvs, due


def test_the_transition_itself_marks_the_hooks_pending(env: tuple[Settings, JobStore, Outbox]) -> None:
    _, store, _ = env
    ok, failed = _finished_by_cas(store), _finished_by_cas(store, fail=True)
    assert sorted(_pending(store)) == sorted([ok.id, failed.id])
    # canceled is not: whoever cancels writes the event itself (and the planner accounts batch items)
    queued = Job(id=new_job_id(), tenant="acme", input=INPUT)
    store.create(queued)
    assert store.cancel(queued.id).applied
    assert queued.id not in _pending(store)
    # claim and release are not terminal
    other = Job(id=new_job_id(), tenant="acme", input=INPUT)
    store.create(other)
    store.claim(other.id, "host:1", 30)
    store.release(other.id, "host:1")
    assert other.id not in _pending(store)


def test_a_hook_lost_after_the_cas_is_delivered_once_by_the_sweep(env: tuple[Settings, JobStore, Outbox]) -> None:
    settings, store, outbox = env
    job = _finished_by_cas(store)  # the worker died right after its compare-and-set
    failed = _finished_by_cas(store, fail=True)
    assert outbox.events_of(job.id) == [], "nothing wrote the event yet"
    hooks = finished_hooks(settings, store, None)

    assert sweep_hooks(store, hooks) == 0, "the sweep leaves the runner its grace period"
    assert sweep_hooks(store, hooks, now=now_ms() + HOOKS_GRACE_MS + 1) == 2

    n_events, dlvs, due = _deliveries(outbox, job.id)
    assert n_events == 1 and len(dlvs) == 1 and due == 1, "one job.succeeded event, one delivery, due to send"
    assert _deliveries(outbox, failed.id, "job.failed")[0] == 1
    assert _pending(store) == []
    seq = outbox.r.get(keyspace.webhook_sequence("acme"))
    # a second sweep (another worker's reaper, a runner that was only slow) finds nothing, sends nothing
    assert sweep_hooks(store, hooks, now=now_ms() + HOOKS_GRACE_MS + 1) == 0
    assert _deliveries(outbox, job.id)[:1] == (1,) and outbox.r.get(keyspace.webhook_sequence("acme")) == seq


def test_running_the_webhook_hook_twice_sends_one_event(env: tuple[Settings, JobStore, Outbox]) -> None:
    settings, store, outbox = env
    job = store.get(_finished_by_cas(store).id)
    assert job is not None
    hook = job_hook(settings, store, celery=None)
    hook(job)
    msg = msg_id_for(job.id, "job.succeeded")
    first = outbox.event(msg)
    # the first delivery is on its way (claimed by a sender) when the hook runs again
    (claimed,) = outbox.claim_due(10)
    hook(job)
    hook(job)
    assert [e.id for e in outbox.events_of(job.id)] == [msg]
    assert outbox.event(msg) == first, "same body, same sequence"
    assert len(outbox.deliveries_of(msg)) == 1
    assert outbox.r.zscore(DUE, claimed[0]) == claimed[1], "the claim was not reset: no second send"
    assert outbox.claim_due(10) == []


def test_a_runner_whose_hook_fails_leaves_them_to_the_sweep(env: tuple[Settings, JobStore, Outbox],
                                                           tmp_path: Path) -> None:
    settings, store, outbox = env
    ran: list[str] = []
    flaky = {"fail": True}

    def first(job: Job) -> None:
        if flaky["fail"]:
            raise ConnectionError("Redis went away")
        ran.append("first")

    def second(job: Job) -> None:
        ran.append("second")

    job = _finished_by_cas(store)
    runner = JobRunner(settings, store, open_blob_store(settings), ChecksumEngine(), on_finished=[first, second])
    runner._finished(job.id)
    assert ran == [], "the hooks after a failed one wait (batch accounting drops the record the others read)"
    assert _pending(store) == [job.id]
    flaky["fail"] = False
    assert sweep_hooks(store, [first, second], now=now_ms() + HOOKS_GRACE_MS + 1) == 1
    assert ran == ["first", "second"] and _pending(store) == []

    # a runner whose hooks all run clears the mark itself
    ok = _finished_by_cas(store)
    runner._finished(ok.id)
    assert _pending(store) == []


def test_a_sweep_whose_hook_fails_retries_later(env: tuple[Settings, JobStore, Outbox]) -> None:
    _, store, _ = env
    job = _finished_by_cas(store)
    later = now_ms() + HOOKS_GRACE_MS + 1

    def broken(j: Job) -> None:
        raise RuntimeError("still down")

    assert sweep_hooks(store, [broken], now=later) == 0
    assert _pending(store) == [job.id]
    assert store.hooks_pending_before(later - HOOKS_GRACE_MS) == [], "not again at once"


def _batch_with_jobs(h: Harness, n: int) -> tuple[str, list[str]]:
    for i in range(n):
        h.put("scans", f"hk/{i}.png", digit_png(i))
    bid = h.create(src_prefix="hk/")
    h.planner.tick(bid)
    sent, h.sent = h.sent, []
    assert len(sent) == n
    return bid, sent


def test_a_batch_item_cut_off_after_the_cas_is_counted_once(redis_db: str, tmp_path: Path) -> None:
    h = Harness(redis_db, tmp_path / "blobs")
    # A batch item's event is batch.item.succeeded, written by its accounting (no job.* event: the job
    # record is dropped once counted); an endpoint that asked for it gets it once, as a job's would.
    EndpointStore(h.r).create("acme", "http://127.0.0.1:9/wms", ["job.succeeded", "batch.item.succeeded"])
    outbox = Outbox(h.r, h.settings.model_copy(update={"webhook_allow_http": True}))
    bid, (dead, alive) = _batch_with_jobs(h, 2)
    dying = JobRunner(h.settings, h.store, h.blobs, h.engine, on_finished=[_die])
    with pytest.raises(Died):
        dying.run(dead)  # succeeded by its CAS, then the worker died
    assert h.store.status(dead) == Status.succeeded and _pending(h.store) == [dead]

    # the planner's sweep leaves it to the hooks: accounting drops the record the webhook hook reads
    time.sleep(SWEEP_GRACE_MS / 1000 + 0.1)
    h.planner._last_sweep.clear()
    h.planner.tick(bid)
    assert h.r.hexists(bkey(bid, "inflight"), dead), "accounted before its event was written"
    job = h.store.get(dead)
    assert job is not None
    subject = f"{bid}/{Item.from_json(h.r.hget(bkey(bid, 'inflight'), dead)).id}"

    hooks = finished_hooks(h.settings, h.store, None)
    assert sweep_hooks(h.store, hooks, now=now_ms() + HOOKS_GRACE_MS + 1) == 1
    b = Batch.load(h.r, bid)
    assert b is not None and b.n("succeeded") == 1
    assert len(outbox.events_of(subject)) == 1 and outbox.events_of(dead) == []
    # hooks run again (a second sweep, the runner's late retry): no second count, no second event
    for hook in hooks:
        hook(job)
    batch_hook(h.settings, h.store)(job)
    assert not Accountant(h.settings, h.store).finish(job, from_hooks=True)
    b = Batch.load(h.r, bid)
    assert b is not None and b.n("succeeded") == 1
    assert len(outbox.events_of(subject)) == 1 and outbox.events_of(dead) == []
    assert len(outbox.deliveries_of(msg_id_for(subject, "batch.item.succeeded"))) == 1

    # the other item finishes normally: counted once, nothing left pending
    runner = JobRunner(h.settings, h.store, h.blobs, h.engine, on_finished=hooks)
    runner.run(alive)
    b = Batch.load(h.r, bid)
    assert b is not None and b.n("succeeded") == 2 and _pending(h.store) == []
