"""/v1/reviews and a job's review: the queue, claiming, resolving, the tenant's floor, the training export.

Every route needs a key with the ``review`` scope (the tenant's settings and the export: ``admin``); another
tenant's job answers 404 exactly like a missing one. The lifecycle itself is shared/reviews/service.py.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field

from api.auth import require_key, require_scope
from api.context import services, tenant
from api.contract import Reply, contract
from api.inputs import find_job
from api.problems import InvalidQuery
from shared.api_schemas.common import WholeNumber
from shared.api_schemas.jobs import JobId
from shared.api_schemas.reviews import (
    ExportQuery,
    ReviewAnswer,
    ReviewDecisionIn,
    ReviewItem,
    ReviewList,
    ReviewListQuery,
    ReviewSettingsIn,
    ReviewSettingsOut,
)
from shared.jobs import Job, iso_ms
from shared.jobs.views import job_links
from shared.reviews import service, training
from shared.reviews.store import ReviewStore
from shared.reviews.view import review_out
from shared.tenants import TenantSettings
from shared.webhooks.events import emit_job_reviewed

bp = Blueprint("reviews", __name__)


class ClaimQuery(BaseModel):
    lease_s: WholeNumber | None = Field(default=None, ge=10, le=3600,
                                        description="how long the claim holds, in seconds (default 600)")


class ExportOut(BaseModel):
    format: str = Field(description="the record layout: sharegpt (LLaMA-Factory multimodal; ms-swift)")
    count: int
    records: list[dict[str, Any]] = Field(description="one per approved or corrected image job; `images` name "
                                          "files the client writes from each record's links.image")


def _reviews() -> ReviewStore:
    s = services()
    return ReviewStore(s.redis, s.store)


def _answer(job: Job, diff: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    out = ReviewAnswer(job_id=job.id, review=review_out(job.review), diff=diff)
    return out.model_dump(mode="json", exclude_none=True)


def _cursor(text: str | None) -> tuple[int, str] | None:
    if not text:
        return None
    ms, _, jid = text.partition(":")
    if not ms.isdigit() or not jid:
        raise InvalidQuery("cursor: pass next_cursor of the previous page as it was given")
    return int(ms), jid


@bp.get("/v1/reviews")
@require_key
@require_scope("review")
@contract("listReviews", "jobs", "The tenant's reviews in a state, oldest first, with counts by reason",
          query=ReviewListQuery, replies={200: Reply("A page of reviews", ReviewList)}, errors=(403,))
def list_reviews(query: ReviewListQuery) -> ResponseReturnValue:
    page = _reviews().list(tenant(), state=query.state, reason=query.reason, batch_id=query.batch_id,
                           limit=query.limit, after=_cursor(query.cursor))
    items = [ReviewItem(job_id=j.id, batch_id=j.batch_id, task=j.spec.task, created_at=iso_ms(j.created_at) or "",
                        review=review_out(j.review), links=job_links(j.id))
             for j in page.items]
    return jsonify(ReviewList(items=items, counts=page.counts, next_cursor=page.next_cursor).model_dump(mode="json"))


@bp.get("/v1/jobs/<job_id>/review")
@require_key
@require_scope("review")
@contract("getReview", "jobs", "A job's review", replies={200: Reply("The review", ReviewAnswer)},
          errors=(403, 404, 409))
def get_review(job_id: JobId) -> ResponseReturnValue:
    job = find_job(job_id)
    service._current(_reviews(), job.id)  # the same refusals as a claim: not succeeded, no review
    return jsonify(_answer(job))


@bp.post("/v1/jobs/<job_id>/review/claim")
@require_key
@require_scope("review")
@contract("claimReview", "jobs", "Claim a job's review for this key (a lease; claiming again renews it)",
          query=ClaimQuery, replies={200: Reply("The claimed review", ReviewAnswer)}, errors=(403, 404, 409))
def claim_review(job_id: JobId, query: ClaimQuery) -> ResponseReturnValue:
    find_job(job_id)
    job = service.claim(_reviews(), job_id, g.api_key.id, g.api_key.name, query.lease_s)
    return jsonify(_answer(job))


@bp.route("/v1/jobs/<job_id>/review", methods=["PUT"])
@require_key
@require_scope("review")
@contract("resolveReview", "jobs", "Resolve a job's review: approve, correct (a new result revision) or reject",
          json=ReviewDecisionIn, replies={200: Reply("The resolved review, with the corrections' diff", ReviewAnswer)},
          errors=(403, 404, 409, 422))
def resolve_review(job_id: JobId, body: ReviewDecisionIn) -> ResponseReturnValue:
    find_job(job_id)
    s = services()
    job, diff = service.resolve(_reviews(), s.blobs, job_id, g.api_key.id, g.api_key.name, body)
    emit_job_reviewed(s.outbox, job, diff)
    return jsonify(_answer(job, diff))


@bp.get("/v1/reviews/settings")
@require_key
@require_scope("admin")
@contract("getReviewSettings", "jobs", "The tenant's review defaults",
          replies={200: Reply("The defaults", ReviewSettingsOut)}, errors=(403,))
def get_settings() -> ResponseReturnValue:
    floor = TenantSettings(services().redis).review_below(tenant())
    return jsonify(ReviewSettingsOut(review_below=floor).model_dump(mode="json"))


@bp.route("/v1/reviews/settings", methods=["PUT"])
@require_key
@require_scope("admin")
@contract("putReviewSettings", "jobs", "Set the tenant's default confidence floor (review_below)",
          json=ReviewSettingsIn, replies={200: Reply("The defaults", ReviewSettingsOut)}, errors=(403, 422))
def put_settings(body: ReviewSettingsIn) -> ResponseReturnValue:
    TenantSettings(services().redis).set_review_below(tenant(), body.review_below)
    return jsonify(ReviewSettingsOut(review_below=body.review_below).model_dump(mode="json"))


@bp.get("/v1/reviews/export")
@require_key
@require_scope("admin")
@contract("exportReviews", "jobs", "Training data: approved and corrected image jobs resolved since a time",
          query=ExportQuery, replies={200: Reply("JSONL-ready records (sharegpt layout)", ExportOut)}, errors=(403,))
def export_reviews(query: ExportQuery) -> ResponseReturnValue:
    s = services()
    records = training.export_records(_reviews(), s.blobs, tenant(), query.since, query.limit)
    base = s.settings.public_url.rstrip("/")
    for rec in records:
        rec["links"] = {"image": f"{base}{job_links(rec['ocrq']['job_id'])['image']}"}
    return jsonify(ExportOut(format=training.FORMAT, count=len(records), records=records).model_dump(mode="json"))
