"""Claim and resolve a job's review, and read its result revisions. No HTTP here: the gateway's
blueprint (api/reviews.py) calls these and maps the errors (shared/reviews/model.py) to problems.

Revision 1 is the engine's result (``job.result_key``, never rewritten). A correction writes revision 2
(``<result key minus .json>/revisions/2-<token>.json``: the corrected result, who, when, the decision and
the diff) before the review block names it; a resolve that loses its compare-and-set deletes what it wrote.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from shared.api_schemas.reviews import ReviewDecisionIn
from shared.infra.blobs import BlobStore
from shared.jobs.model import Job, Status, iso_ms, now_ms
from shared.jobs.store import JobStore
from shared.reviews import corrections as corr
from shared.reviews import metrics
from shared.reviews.model import (
    DEFAULT_LEASE_S,
    InvalidDecision,
    JobNotReviewable,
    NoReview,
    ReviewChanged,
    ReviewClaimed,
    ReviewResolved,
    RevisionNotFound,
    effective_state,
)
from shared.reviews.store import APPLIED, CHANGED, MISSING, NOT_SUCCEEDED, ReviewStore

_TRIES = 5  # compare-and-set retries when another request changed the block between read and write


def _reviewer(key_id: str, name: str) -> dict[str, str]:
    return {"key_id": key_id, "name": name}


def _current(reviews: ReviewStore, job_id: str) -> tuple[Job, str]:
    """The job with its review block as it was in the one raw read the compare-and-set will hold it to
    (a block read any other way could be older than that text, and a write built on it would win)."""
    job = reviews.jobs.get(job_id)
    if job is None:
        raise NoReview(f"job {job_id} is gone")
    if job.status != Status.succeeded:
        raise JobNotReviewable(f"job {job_id} is {job.status.value}; only a succeeded job has a review")
    raw = reviews.raw(job_id)
    job.review = json.loads(raw) if raw else None
    if not job.review:
        raise NoReview(f"job {job_id} has no review: it was not routed to one (no review reason, or review=off)")
    return job, raw


def _refuse_held(block: dict[str, Any], key_id: str, now: int) -> None:
    state = effective_state(block, now)
    if state == "resolved":
        raise ReviewResolved(f"the review was resolved ({block.get('decision')}) at {iso_ms(block.get('resolved_at'))}"
                             "; a resolution is final")
    holder = block.get("claimed_by") or {}
    if state == "claimed" and holder.get("key_id") != key_id:
        raise ReviewClaimed(f"the review is claimed by {holder.get('name') or holder.get('key_id')} "
                            f"({holder.get('key_id')}) until {iso_ms(block.get('lease_until'))}")


def _check(res: int, job_id: str) -> None:
    if res == MISSING:
        raise NoReview(f"job {job_id} is gone")
    if res == NOT_SUCCEEDED:
        raise JobNotReviewable(f"job {job_id} is no longer succeeded")


def claim(reviews: ReviewStore, job_id: str, key_id: str, key_name: str, lease_s: int | None = None) -> Job:
    """open → claimed by this key for lease_s; the holder claiming again renews its lease."""
    for _ in range(_TRIES):
        job, raw = _current(reviews, job_id)
        now = now_ms()
        block = dict(job.review or {})
        _refuse_held(block, key_id, now)
        block.update(state="claimed", claimed_by=_reviewer(key_id, key_name), claimed_at=now,
                     lease_until=now + (lease_s or DEFAULT_LEASE_S) * 1000)
        res = reviews.cas(job, raw, block)
        _check(res, job_id)
        if res == APPLIED:
            return reviews.jobs.get(job_id) or job
    raise ReviewChanged("the review kept changing while claiming it; read it and retry")


def _revision_key(job: Job) -> str:
    base = (job.result_key or f"results/{job.tenant}/{job.id}.json").removesuffix(".json")
    return f"{base}/revisions/2-{secrets.token_hex(6)}.json"


def resolve(reviews: ReviewStore, blobs: BlobStore, job_id: str, key_id: str, key_name: str,
            body: ReviewDecisionIn) -> tuple[Job, list[dict[str, Any]]]:
    """Resolve with approve, correct (revision 2) or reject; validated in full before anything is written."""
    fixes = body.corrections
    if body.decision == "correct" and (fixes is None or fixes.empty()):
        raise InvalidDecision("corrections", "decision 'correct' needs corrections (lines, fields, gs1 or barcodes)")
    if body.decision != "correct" and fixes is not None and not fixes.empty():
        raise InvalidDecision("corrections", f"decision '{body.decision}' takes no corrections; use 'correct'")
    if body.decision == "reject" and not body.reason:
        raise InvalidDecision("reason", "decision 'reject' needs a reason (e.g. rescan)")
    if body.decision != "reject" and body.reason:
        raise InvalidDecision("reason", "only decision 'reject' takes a reason; put remarks in note")
    for _ in range(_TRIES):
        job, raw = _current(reviews, job_id)
        now = now_ms()
        block = dict(job.review or {})
        if (block.get("state") == "resolved" and (block.get("resolved_by") or {}).get("key_id") == key_id
                and block.get("decision") == body.decision):
            # The same reviewer sending the same decision again (its answer was lost): the resolution it
            # made, so that the caller writes the job.reviewed event again (idempotent) if it was lost too.
            return job, list(block.get("diff") or [])
        _refuse_held(block, key_id, now)
        diff: list[dict[str, Any]] = []
        rev_key: str | None = None
        if body.decision == "correct" and fixes is not None:
            engine = json.loads(blobs.get(job.result_key or ""))
            corrected, diff = corr.apply(engine, fixes, wanted_fields=job.spec.fields)
            rev_key = _revision_key(job)
            by = _reviewer(key_id, key_name)
            blobs.put(rev_key, json.dumps({
                "revision": 2, "result": corrected, "decision": "correct", "by": by, "at": iso_ms(now),
                "diff": diff, "note": body.note}).encode(), "application/json")
        block.update(state="resolved", resolved_at=now, resolved_by=_reviewer(key_id, key_name),
                     decision=body.decision, reject_reason=body.reason, note=body.note, claimed_by=None,
                     lease_until=None, revision=2 if rev_key else 1, revision_key=rev_key, corrections=len(diff))
        if rev_key:
            block["diff"] = diff
        res = reviews.cas(job, raw, block, index="resolve")
        if res != APPLIED and rev_key:
            blobs.delete(rev_key)
        _check(res, job_id)
        if res == CHANGED:
            continue
        metrics.resolved(reviews.r, body.decision, len(diff), (now - int(block.get("opened_at") or now)) / 1000)
        return reviews.jobs.get(job_id) or job, diff
    raise ReviewChanged("the review kept changing while resolving it; read it and retry")


def result_revision(blobs: BlobStore, job: Job, engine: dict[str, Any], revision: int | None) -> dict[str, Any]:
    """The result to serve with ``revision`` and ``reviewed``: the latest unless a revision is asked for."""
    block = job.review or {}
    reviewed = block.get("state") == "resolved"
    latest = 2 if block.get("revision_key") else 1
    want = revision or latest
    if want == 1:
        return {**engine, "revision": 1, "reviewed": reviewed and latest == 1}
    if want == 2 and latest == 2:
        stored = json.loads(blobs.get(str(block["revision_key"])))
        return {**stored["result"], "revision": 2, "reviewed": True}
    raise RevisionNotFound(f"job {job.id} has no revision {want}; it has " + ("1 and 2" if latest == 2 else "1"))


def forget(reviews: ReviewStore, blobs: BlobStore, job: Job) -> None:
    """Expiry and purge: the revision's bytes, the block and the indexes go with the job's data."""
    key = (job.review or {}).get("revision_key")
    if key:
        blobs.delete(str(key))
    reviews.forget(job)


def forget_review(store: JobStore, blobs: BlobStore, job: Job) -> None:
    """forget() for callers that hold only the job store (the reaper's expiry, purge)."""
    if job.review:
        forget(ReviewStore(store.r, store), blobs, job)
