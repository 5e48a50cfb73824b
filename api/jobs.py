"""/v1/jobs: read, long-poll, list, cancel, result, image. Submitting one is api/submit.py."""

from __future__ import annotations

import base64
import time
from typing import Any

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from api import draining, previews
from api.auth import require_key, require_scope
from api.context import services, tenant
from api.contract import Reply, contract, single_valued_query
from api.inputs import find_job, load_result
from api.problems import InvalidQuery
from shared import errors
from shared.api_schemas.jobs import (
    CancelQuery,
    ImageQuery,
    JobId,
    JobList,
    JobListQuery,
    JobOut,
    ResultQuery,
    WaitQuery,
)
from shared.infra.blobs import BlobNotFound
from shared.intake.documents import InvalidPages
from shared.jobs import lifecycle
from shared.jobs.listing import JobFilter, list_for_tenant
from shared.jobs.model import Job, Status
from shared.jobs.views import render_job
from shared.results import formats as result_formats
from shared.results.model import OcrResult
from shared.reviews.service import result_revision

bp = Blueprint("jobs", __name__)
bp.before_request(single_valued_query)


class ResultNotReady(errors.NotFound):
    """The job has not finished yet: no result so far (Retry-After)."""

    code = "result_not_available"
    retry_after_s = 1


class ResultNotAvailable(errors.Conflict):
    """The job finished without succeeding: it has no result."""

    code = "result_not_available"


DRAIN_CHECK_S = 0.5


def _wait_for_final(job: Job, wait_s: float) -> Job:
    """Block until the job is final, wait_s passes or the gateway is stopping, on Redis pub/sub
    (no polling of Redis)."""
    s = services()
    pubsub = s.redis.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(s.store.channel(job.id))
        # Re-read after subscribing: a job that finished in between would otherwise be missed.
        current = s.store.get(job.id) or job
        deadline = time.monotonic() + wait_s
        while not current.terminal and not draining.DRAINING.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # Wake at least every DRAIN_CHECK_S to see a stop (api/draining.py); waiting sends Redis nothing.
            msg = pubsub.get_message(timeout=min(left, DRAIN_CHECK_S))
            if msg is not None:
                current = s.store.get(job.id) or current
        return current
    finally:
        pubsub.close()


@bp.get("/v1/jobs/<job_id>")
@require_key
@contract("getJob", "jobs", "A job; with ?wait=N, long-poll until it is final or N seconds pass", query=WaitQuery,
          replies={200: Reply("The job; `Retry-After` is set while it is not final", JobOut,
                              headers=("Retry-After",))},
          errors=(400, 404, 410, 503))
def get_job(job_id: JobId, query: WaitQuery) -> ResponseReturnValue:
    job = find_job(job_id)
    if query.wait > 0 and not job.terminal:
        job = _wait_for_final(job, query.wait)
    resp = jsonify(render_job(job, load_result(job)))
    if not job.terminal:
        resp.headers["Retry-After"] = "1"
    return resp


def _result_media() -> dict[str, type[OcrResult] | dict[str, Any]]:
    """What ?format= answers: the result model for json, each other format's media type (the registry's)."""
    out: dict[str, type[OcrResult] | dict[str, Any]] = {"application/json": OcrResult}
    for fmt in result_formats.FORMATS.values():
        bare = fmt.bare_media_type
        if bare not in out:
            out[bare] = {"type": "string"} if bare.startswith("text/") or bare.endswith("+xml") else {
                "type": "string", "contentMediaType": bare}
    return out


@bp.get("/v1/jobs/<job_id>/result")
@require_key
@contract("getJobResult", "jobs", "The OCR result of a succeeded job, as JSON or in a format to take away",
          query=ResultQuery, replies={200: Reply("The result in the requested format", media=_result_media)},
          errors=(404, 409, 410, 503))
def get_result(job_id: JobId, query: ResultQuery) -> ResponseReturnValue:
    job = find_job(job_id)
    if job.status != Status.succeeded:
        gone = ResultNotAvailable if job.terminal else ResultNotReady
        raise gone(f"job {job_id} is {job.status.value}; a result exists only for succeeded jobs")
    engine = load_result(job).model_dump(mode="json", exclude={"revision", "reviewed"})  # type: ignore[union-attr]
    try:  # the reviewed revision when there is one (?revision=1: the engine's), with revision and reviewed
        result = result_revision(services().blobs, job, engine, query.revision)
    except BlobNotFound:
        raise errors.Gone("the reviewed result of this job has expired or was deleted") from None
    if query.format == "json":
        return jsonify(result)
    return _exported(job, result, query.format)


def _exported(job: Job, result: dict[str, Any], fmt: str) -> Response:
    """The result rendered in a format of shared/results/formats.py (a searchable PDF reads the input again)."""
    s = services()
    try:
        out = result_formats.export_result(job, result, fmt, blobs=s.blobs, settings=s.settings)
    except BlobNotFound:
        raise errors.Gone("the input of this job has expired or was deleted") from None
    disposition = "attachment" if result_formats.get_format(fmt).binary else "inline"
    return Response(
        out.body,
        content_type=out.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{out.filename}"'},
    )


@bp.get("/v1/jobs/<job_id>/image")
@require_key
@contract("getJobImage", "jobs", "The job's input image as submitted, or one page of a document as a preview image",
          query=ImageQuery,
          replies={200: Reply("The input bytes (its own media type), or the page preview (image/jpeg)", media={
              "image/*": {"type": "string", "contentMediaType": "image/*"},
              "application/pdf": {"type": "string", "contentMediaType": "application/pdf"}})},
          errors=(404, 410, 422, 503))
def get_image(job_id: JobId, query: ImageQuery) -> ResponseReturnValue:
    """The stored input as submitted; with `?page=N` (1-based) page N of a document rendered as a
    small JPEG (api/previews.py: bounded dpi, size, time and memory), for an image job its image."""
    page = query.page
    job = find_job(job_id)
    total = job.pages_total or 1  # an image is one page
    if page is not None and page > total:
        raise InvalidPages(f"page {page} is out of range; the document has {total} page(s)")
    s = services()
    try:
        data = s.blobs.get(job.input.key, bucket=job.input.bucket)
    except BlobNotFound:
        raise errors.Gone("the input image has expired or was deleted") from None
    headers = {"Cache-Control": "private, max-age=300"}
    if page is None or job.pages_total is None:
        return Response(data, mimetype=job.input.content_type, headers=headers)
    preview = previews.render_preview(data, page, max_pixels=s.settings.max_pixels)
    return Response(preview, mimetype=previews.MEDIA_TYPE, headers=headers)


@bp.delete("/v1/jobs/<job_id>")
@require_key
@require_scope("submit")
@contract("cancelJob", "jobs", "Cancel a queued job or a running document (its pages not yet started); with "
          "?purge=true delete a finished job and its data", query=CancelQuery,
          replies={200: Reply("Canceled", JobOut),
                   204: Reply("Purged: the job, its input and its result are deleted")},
          errors=(403, 404, 409, 410, 503))
def cancel_job(job_id: JobId, query: CancelQuery) -> Response:
    s = services()
    job = find_job(job_id)
    job = lifecycle.cancel(s.store, s.outbox, job, purging=query.purge)
    if query.purge:
        lifecycle.purge(s.store, s.blobs, job)
        return Response(status=204)
    return jsonify(render_job(job))


def _cursor(text: str) -> tuple[int, str]:
    try:
        ms, _, bid = base64.urlsafe_b64decode(text.encode() + b"==").decode().partition(":")
        before_ms = int(ms)
    except Exception:
        raise InvalidQuery("cursor is not valid; use next_cursor from the previous page") from None
    if not 0 <= before_ms < 2**53:
        raise InvalidQuery("cursor is not valid; use next_cursor from the previous page")
    return before_ms, bid


@bp.get("/v1/jobs")
@require_key
@contract("listJobs", "jobs", "The tenant's jobs, newest first, with cursor pagination", query=JobListQuery,
          replies={200: Reply("One page of jobs", JobList)}, errors=(400,))
def list_jobs(query: JobListQuery) -> ResponseReturnValue:
    before_ms, before_id = _cursor(query.cursor) if query.cursor is not None else (None, None)
    jobs = list_for_tenant(
        services().redis,
        tenant(),
        limit=query.limit + 1,
        before_ms=before_ms,
        before_id=before_id,
        created_after_ms=query.created_after,
        created_before_ms=query.created_before,
        where=JobFilter(status=Status(query.status) if query.status else None, needs_review=query.needs_review,
                        task=query.task, priority=query.priority, batch_id=query.batch_id),
    )
    page, more = jobs[: query.limit], len(jobs) > query.limit
    cursor = None
    if more and page:
        last = page[-1]
        cursor = base64.urlsafe_b64encode(f"{last.created_at}:{last.id}".encode()).decode().rstrip("=")
    return jsonify(items=[render_job(j) for j in page], next_cursor=cursor)
