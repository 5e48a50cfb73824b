"""Which finished jobs open a review: ``review=auto|always|off`` and the confidence floor ``review_below``.

``auto`` opens a review for a job with any reason: the label's own (shared/labels/review_reasons.py), failed pages of a
document, or ``low_confidence`` -- a line (or symbol) read with a confidence under the floor. The floor is the
job's ``review_below``, else the tenant's default, else the setting ``OCRQ_REVIEW_BELOW`` (none: no floor).
Documents are looked at per page: each low line is named by its page and its index in that page's lines.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from shared.infra.blobs import BlobStore
from shared.infra.settings import Settings
from shared.infra.storage import open_blob_store
from shared.jobs.model import Job, Status, now_ms
from shared.jobs.store import JobStore
from shared.reviews import metrics
from shared.reviews.model import LOW_CONFIDENCE, REQUESTED
from shared.reviews.store import APPLIED, ReviewStore
from shared.tenants import TenantSettings

log = logging.getLogger("ocrq.reviews")
ENV_FLOOR = "OCRQ_REVIEW_BELOW"


def setting_floor() -> float | None:
    raw = os.environ.get(ENV_FLOOR, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number; no confidence floor", ENV_FLOOR, raw)
        return None
    return value if 0.0 <= value <= 1.0 else None


def low_lines(result: dict[str, Any], floor: float) -> list[dict[str, Any]]:
    """Lines and symbols under the floor: [{page, line, confidence}] (symbols: {page, barcode, confidence})."""
    out: list[dict[str, Any]] = []
    pages = result.get("pages") or []
    if len(pages) > 1 or (pages and not result.get("lines")):
        sources = [(int(p.get("page") or i + 1), p.get("lines") or [], p.get("barcodes") or [])
                   for i, p in enumerate(pages)]
    else:
        sources = [(1, result.get("lines") or [], result.get("barcodes") or [])]
    for page, lines, barcodes in sources:
        for i, line in enumerate(lines):
            c = line.get("confidence")
            if c is not None and float(c) < floor:
                out.append({"page": page, "line": i, "confidence": round(float(c), 4)})
        for i, bc in enumerate(barcodes):
            c = bc.get("confidence") if isinstance(bc, dict) else None
            if c is not None and float(c) < floor:
                out.append({"page": page, "barcode": i, "confidence": round(float(c), 4)})
    return out


def decide(job: Job, result: dict[str, Any] | None, floor: float | None) -> tuple[list[str], list[dict[str, Any]]]:
    """(reasons, low-confidence lines); no reasons: no review. ``review=off`` never opens one."""
    mode = job.spec.review or "auto"
    if mode == "off":
        return [], []
    reasons = list(job.review_reasons or [])
    if job.pages_failed and "pages_failed" not in reasons:
        reasons.append("pages_failed")
    low: list[dict[str, Any]] = []
    if floor is not None and result is not None:
        low = low_lines(result, floor)
        if low:
            reasons.append(LOW_CONFIDENCE)
    if not reasons and mode == "always":
        reasons = [REQUESTED]
    return reasons, low


def open_review(reviews: ReviewStore, blobs: BlobStore | None, job: Job) -> Job:
    """Open the job's review if routing says so (idempotent: a job with a block is left alone).

    Runs as the first finished-hook of a succeeded job, so the job's succeeded event already shows the
    review; a job whose hooks run again (the reaper's sweep) finds its block and changes nothing."""
    if job.status != Status.succeeded or job.review or (job.spec.review or "auto") == "off":
        return job
    floor = job.spec.review_below
    if floor is None:
        floor = TenantSettings(reviews.r).review_below(job.tenant)
    if floor is None:
        floor = setting_floor()
    result: dict[str, Any] | None = None
    if floor is not None and job.result_key and blobs is not None:
        try:
            result = json.loads(blobs.get(job.result_key))
        except Exception:  # unreadable: route on the label's reasons alone
            log.warning("could not read the result of %s to check confidences", job.id)
    reasons, low = decide(job, result, floor)
    if not reasons:
        return job
    opened = now_ms()
    block = {"state": "open", "reasons": reasons, "low_confidence": low, "review_below": floor,
             "opened_at": opened, "claimed_by": None, "claimed_at": None, "lease_until": None,
             "resolved_at": None, "resolved_by": None, "decision": None, "reject_reason": None, "note": None,
             "revision": 1, "revision_key": None, "corrections": 0}
    label_reasons = [r for r in reasons if r != REQUESTED]
    fields: dict[str, Any] = {"needs_review": True, "review_reasons": label_reasons} if label_reasons else {}
    if reviews.cas(job, "", block, index="open", score=opened, fields=fields) == APPLIED:
        metrics.opened(reviews.r, reasons)
    return reviews.jobs.get(job.id) or job


def review_hook(store: JobStore, settings: Settings) -> Callable[[Job], None]:
    """The first finished-hook: open the review, and show it on the job the later hooks (its event) see.

    A backfill item is not routed: its record is dropped once its batch counts it (its ledger row and the
    batch.item.* events say needs_review instead)."""
    reviews = ReviewStore(store.r, store)
    holder: list[BlobStore] = []

    def hook(job: Job) -> None:
        if job.status != Status.succeeded or job.batch_id is not None or job.review:
            return
        if not holder:
            holder.append(open_blob_store(settings))
        now = open_review(reviews, holder[0], job)
        job.review, job.needs_review, job.review_reasons = now.review, now.needs_review, now.review_reasons

    return hook
