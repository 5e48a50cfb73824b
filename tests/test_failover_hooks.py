"""The finished-hook across a Redis failover: a job that just succeeded keeps its job.succeeded event.

Found by tests/test_failover.py: the runner's transition to `succeeded` landed, the primary was
SIGKILLed before the webhook hook wrote the event, the hook failed once and nothing wrote it
again, so the endpoint never heard of a finished job. Real processes: a primary, a replica and
three Sentinels on loopback (tests/redis_ha.py).
"""

from __future__ import annotations

from pathlib import Path

from redis_ha import RedisHA, redis_ha  # noqa: F401  (fixture)

from shared.jobs.model import InputRef, Job, Status, new_job_id, now_ms
from shared.jobs.store import JobStore
from shared.redis_client import connect
from shared.settings import load_settings
from shared.webhooks.endpoints import EndpointStore
from shared.webhooks.outbox import Outbox, msg_id_for
from workers.webhooks.hooks import job_hook


def test_hook_writes_the_event_through_a_failover(redis_ha: RedisHA, tmp_path: Path) -> None:  # noqa: F811
    settings = load_settings(redis_url=redis_ha.url(), storage_url=f"file://{tmp_path / 'blobs'}",
                             webhook_allow_http=True)
    client = connect(redis_ha.url(), "ocrq-test")
    EndpointStore(client).create("acme", "http://127.0.0.1:9/wms", ["job.succeeded"])
    hook = job_hook(settings, JobStore(client, settings.retention_s), celery=None)
    job = Job(id=new_job_id(), tenant="acme", status=Status.succeeded, finished_at=now_ms(),
              input=InputRef(bucket="b", key="k", sha256="0" * 64, bytes=1, content_type="image/png",
                             width=1, height=1))
    client.ping()  # the pool holds a connection to the primary that is about to die

    redis_ha.kill_primary()
    hook(job)  # before the Sentinels have elected anyone: no primary answers yet

    event = Outbox(client, settings).event(msg_id_for(job.id, "job.succeeded"))
    assert event is not None, "the job.succeeded event was lost with the primary"
    assert event.type == "job.succeeded"
