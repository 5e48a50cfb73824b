"""The finished-hook across a Redis failover: a job that just succeeded keeps its job.succeeded event.

Found by tests/test_failover.py: the runner's transition to `succeeded` landed, the primary was
SIGKILLed before the event was written, the step failed once and nothing wrote it again, so the
endpoint never heard of a finished job. Seen in two places: the webhook hook itself (fixed), and
the runner's `_finished`, which re-reads the job before it calls any hook (not yet). Real
processes: a primary, a replica and three Sentinels on loopback (tests/redis_ha.py).
"""

from __future__ import annotations

from pathlib import Path

from redis_ha import RedisHA, redis_ha  # noqa: F401  (fixture)

from models.checksum import ChecksumEngine
from shared.blobs import open_blob_store
from shared.jobs.model import InputRef, Job, Status, new_job_id, now_ms
from shared.jobs.store import JobStore
from shared.redis_client import connect, wait_for_replicas
from shared.settings import load_settings
from shared.webhooks.endpoints import EndpointStore
from shared.webhooks.outbox import Outbox, msg_id_for
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
