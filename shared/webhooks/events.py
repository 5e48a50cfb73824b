"""The events ocrq emits about jobs and batches, written to the outbox (never sent from here)."""

from __future__ import annotations

import json
import logging
from typing import Any

from shared.infra.blobs import BlobStore
from shared.jobs.model import Job, Status
from shared.jobs.views import render_job
from shared.webhooks.outbox import Outbox

log = logging.getLogger("ocrq.webhooks")

JOB_EVENT = {Status.succeeded: "job.succeeded", Status.failed: "job.failed", Status.canceled: "job.canceled"}

Claimed = list[tuple[str, int]]  # (due-set member, claim token) the caller must send


def job_event_data(job: Job, outbox: Outbox, blobs: BlobStore | None) -> dict[str, Any]:
    """``data`` of a job event: the job as the API renders it (metadata included), and its result
    inline up to ``webhook_inline_max_bytes``, else a link to fetch it."""
    settings = outbox.settings
    rendered = render_job(job)
    rendered.pop("result", None)
    base = settings.public_url.rstrip("/")
    links = {k: base + v for k, v in rendered.get("links", {}).items()}
    rendered["links"] = links
    data: dict[str, Any] = {"job": rendered, "result": None, "result_inline": False, "result_url": None}
    if job.status == Status.succeeded and job.result_key:
        data["result_url"] = links.get("result")
        raw: bytes | None = None
        if blobs is not None:
            try:
                raw = blobs.get(job.result_key, max_bytes=settings.webhook_inline_max_bytes)
            except Exception:  # too large (TooLarge) or unreadable: the link is the answer
                raw = None
        if raw is not None and len(raw) <= settings.webhook_inline_max_bytes:
            data["result"] = json.loads(raw)
            data["result_inline"] = True
    return data


def wants_events(outbox: Outbox, job: Job) -> bool:
    """Whether anyone listens: a job's own webhook_url or any endpoint of its tenant.

    A backfill item's job sends no job.* event: its record is dropped once the item is counted, so
    every link in it would answer 404; the batch accounting sends batch.item.* instead, pointing at
    the result in the output bucket (shared/batches/accounting.py)."""
    if job.batch_id is not None:
        return False
    return job.webhook_url is not None or bool(outbox.endpoints.count(job.tenant))


def emit_job_event(outbox: Outbox, job: Job, blobs: BlobStore | None, *,
                   claim: bool = False) -> tuple[str, Claimed] | None:
    event_type = JOB_EVENT.get(job.status)
    if event_type is None:
        return None
    data = job_event_data(job, outbox, blobs)
    return outbox.emit(job.tenant, event_type, job.id, job.finished_at or job.updated_at, data,
                       job_webhook_url=job.webhook_url, claim=claim)


def emit_job_canceled(outbox: Outbox, job: Job) -> None:
    """job.canceled: a cancel happens in the gateway, so the gateway writes its event. The
    webhook worker's scheduler loop sends it within a tick; never fails the cancel itself."""
    try:
        if wants_events(outbox, job):
            emit_job_event(outbox, job, None)
    except Exception:
        log.exception("could not write the job.canceled event of %s", job.id)


def emit_job_reviewed(outbox: Outbox, job: Job, diff: list[dict[str, Any]] | None = None) -> str | None:
    """``job.reviewed``: written by the gateway once the review is resolved (final, so once per job; the
    webhook worker's scheduler loop sends it). ``data``: the job (its review block included), the decision,
    the served revision and the corrections made (path, from, to). None when nobody listens."""
    if not wants_events(outbox, job):
        return None
    block = job.review or {}
    data = job_event_data(job, outbox, None)
    data.pop("result", None)
    data.pop("result_inline", None)
    data |= {"decision": block.get("decision"), "reject_reason": block.get("reject_reason"),
             "note": block.get("note"), "revision": block.get("revision", 1), "corrections": diff or []}
    msg_id, _ = outbox.emit(job.tenant, "job.reviewed", job.id, int(block.get("resolved_at") or job.updated_at), data,
                            job_webhook_url=job.webhook_url)
    return msg_id


def emit_batch_completed(outbox: Outbox, tenant: str, batch_id: str, finished_ms: int, batch: dict[str, Any],
                         *, claim: bool = False) -> tuple[str, Claimed]:
    """``batch.completed``: call once the batch is final (safe to repeat)."""
    return outbox.emit(tenant, "batch.completed", batch_id, finished_ms, {"batch": batch}, claim=claim)
