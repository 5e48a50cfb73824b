"""/v1/jobs: submit (upload or reference), read, long-poll, list, cancel, result, image."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from api import previews
from api.auth import require_key, require_scope
from api.context import services, tenant
from api.contract import Reply, contract
from api.inputs import find_job, load_result, parse_spec
from api.problems import BucketNotAllowed, InvalidQuery, mib
from api.webhook_guard import check_webhook_url
from shared import errors
from shared.api_schemas.jobs import (
    CancelQuery,
    ImageQuery,
    JobCreate,
    JobId,
    JobList,
    JobListQuery,
    JobOptions,
    JobOut,
    JobUpload,
    ResultQuery,
    SubmitHeaders,
    WaitQuery,
)
from shared.errors import RescanNeeded
from shared.infra.blobs import BlobNotFound, input_key
from shared.intake.documents import InvalidPages, as_document
from shared.intake.images import ImageInfo, inspect
from shared.intake.page_selection import parse_pages
from shared.intake.quality import Quality, assess
from shared.jobs import lifecycle
from shared.jobs.model import InputRef, Job, Status
from shared.jobs.store import JobFilter
from shared.jobs.submit import Draft, Submitted
from shared.jobs.task_spec import TaskSpec
from shared.jobs.views import render_job
from shared.results import formats as result_formats
from shared.results.model import OcrResult
from shared.reviews.service import result_revision

bp = Blueprint("jobs", __name__)


@bp.before_request
def _single_valued_query() -> None:
    """A query parameter given twice is ambiguous (which `wait`?): refuse it rather than pick one."""
    for name, values in request.args.lists():
        if len(values) > 1:
            raise InvalidQuery(f"query parameter {name!r} given {len(values)} times")


class SourceNotFound(errors.NotFound):
    """No such object in the bucket a JSON submit names."""

    code = "source_not_found"


class ResultNotReady(errors.NotFound):
    """The job has not finished yet: no result so far (Retry-After)."""

    code = "result_not_available"
    retry_after_s = 1


class ResultNotAvailable(errors.Conflict):
    """The job finished without succeeding: it has no result."""

    code = "result_not_available"


# ---------------------------------------------------------------- submit
def _common(opts: JobOptions) -> tuple[str, dict[str, Any], str | None]:
    if opts.webhook_url:
        check_webhook_url(opts.webhook_url)
    return opts.priority, opts.metadata, opts.webhook_url or None


def _read_upload(upload: Any) -> bytes:
    limit = services().settings.max_upload_bytes
    data: bytes = upload.read(limit + 1)
    if len(data) > limit:
        raise errors.TooLarge(f"the file is larger than the upload limit of {mib(limit)}")
    return data


def _inspect(data: bytes, reduced: bool = False) -> ImageInfo:
    st = services().settings
    return inspect(
        data,
        formats=st.allowed_formats,
        max_pixels=st.max_pixels,
        max_frames=st.max_frames,
        min_side=st.min_side_px,
        max_aspect=st.max_aspect,
        reduced=reduced,
    )


# One verdict at a time per gateway process. assess is some forty short numpy passes, each of which lets go of
# the GIL; verdicts on concurrent request threads then wake one another for nothing at every pass, which more
# than doubled their CPU (4 threads: 1.07 ms a verdict against 0.42 ms one at a time). A verdict holds the lock
# for under half a millisecond.
_VERDICT_LOCK = threading.Lock()


def _verdict(info: ImageInfo, quality: str | None) -> Quality | None:
    """The rescan verdict from the reduced decode inspect already did; require refuses a rescan (422)."""
    if quality is None or info.reduced is None:  # documents have no verdict (their pages render on workers)
        return None
    thresholds = services().settings.quality_thresholds()
    with _VERDICT_LOCK:
        verdict = assess(info.reduced, thresholds, original_size=(info.width, info.height))
    if quality == "require" and verdict.verdict == "rescan":
        raise RescanNeeded(verdict.reasons)
    return verdict


@dataclass(frozen=True)
class _Pages:
    total: int
    selected: tuple[int, ...]


def _inspect_input(data: bytes, pages_spec: str | None, reduced: bool = False) -> tuple[ImageInfo, _Pages | None]:
    """An image, or a document (PDF, TIFF of several pages) checked cheaply: header, page count and
    encryption, no rendering (workers render). Too many pages is refused here, before storing."""
    doc = as_document(data, max_pages=services().settings.max_pages)
    if doc is not None:
        selected = tuple(parse_pages(pages_spec, doc.pages_total))
        # A document has no one size: its pages are measured when rendered, so the input shows 0 x 0.
        info = ImageInfo(doc.kind.upper(), doc.content_type, 0, 0, doc.pages_total)
        return info, _Pages(doc.pages_total, selected)
    info = _inspect(data, reduced)
    parse_pages(pages_spec, 1)  # an image is one page: only "1" (or nothing) selects from it
    return info, None


def _answer(sub: Submitted, verdict: Quality | None = None) -> Response:
    job = sub.job
    body = render_job(job, load_result(job)) if sub.replayed else render_job(job)
    if verdict is not None:
        body["quality"] = verdict.as_dict()
    resp = jsonify(body)
    if sub.replayed:
        resp.status_code = 200
        resp.headers["Idempotent-Replayed"] = "true"
    else:
        resp.status_code = 202
    resp.headers["Location"] = f"/v1/jobs/{job.id}"
    if job.traceparent:  # tracing on: a WMS correlates its own trace with the job's
        resp.headers["traceparent"] = job.traceparent
    return resp


StoreInput = Callable[[str, ImageInfo], InputRef]  # (sha256, image info) -> where the worker reads it


def _submit(opts: JobOptions, spec: TaskSpec, data: bytes, store_input: StoreInput) -> Response:
    """The part an upload and a reference share: inspect the image, then the domain's submit."""
    priority, metadata, webhook_url = _common(opts)
    info, pages = _inspect_input(data, opts.pages, reduced=opts.quality is not None)
    verdict = _verdict(info, opts.quality)  # before anything is stored: a refused photo leaves no trace
    sha = hashlib.sha256(data).hexdigest()
    draft = Draft(
        tenant=tenant(),
        sha256=sha,
        spec=spec,
        priority=priority,
        metadata=metadata,
        webhook_url=webhook_url,
        pages_total=pages.total if pages else None,
        pages=pages.selected if pages else None,
        quality=verdict.as_dict() if verdict is not None else None,  # kept on the job: GET shows it too
    )
    sub = services().submitter.submit(
        draft, idempotency_key=request.headers.get("Idempotency-Key"), store_input=lambda: store_input(sha, info)
    )
    return _answer(sub, verdict)


_SUBMITTED = ("Location", "Idempotent-Replayed", "traceparent")


@bp.post("/v1/jobs")
@require_key
@require_scope("submit")
@contract(
    "submitJob", "jobs", "Submit one image (multipart upload) or an object in an allowed bucket (JSON)",
    form=JobUpload, json=JobCreate, headers=SubmitHeaders,
    replies={202: Reply("Accepted: the job is queued", JobOut, headers=("Location", "traceparent")),
             200: Reply("Idempotent replay: the job an earlier request with this key created", JobOut,
                        headers=_SUBMITTED)},
    errors=(400, 403, 404, 409, 413, 415, 422, 503),
)
def submit(body: JobUpload | JobCreate) -> Response:
    if isinstance(body, JobCreate):
        return _submit_reference(body)
    data = _read_upload(body.file)
    spec = parse_spec(body.model_dump())
    blobs = services().blobs

    def store_upload(sha: str, info: ImageInfo) -> InputRef:
        key = input_key(tenant(), sha)
        if blobs.stat(key) is None:  # content-addressed: the same bytes are stored once
            blobs.put(key, data, info.content_type)
        return InputRef(
            bucket=blobs.bucket,
            key=key,
            sha256=sha,
            bytes=len(data),
            content_type=info.content_type,
            width=info.width,
            height=info.height,
        )

    return _submit(body, spec, data, store_upload)


def _submit_reference(req: JobCreate) -> Response:
    s = services()
    spec = parse_spec(req.model_dump())
    _common(req)
    src = req.source
    if src.bucket not in s.keys.allowed_buckets(tenant()):
        raise BucketNotAllowed(f"this tenant may not read bucket {src.bucket!r}")
    try:
        data = s.blobs.get(src.key, bucket=src.bucket, max_bytes=s.settings.max_upload_bytes)
    except ValueError as err:
        raise errors.ValidationFailed("source.key", str(err)) from None
    except BlobNotFound:
        raise SourceNotFound(f"no object {src.key!r} in bucket {src.bucket!r}") from None

    def reference(sha: str, info: ImageInfo) -> InputRef:
        return InputRef(
            bucket=src.bucket,
            key=src.key,
            sha256=sha,
            bytes=len(data),
            content_type=info.content_type,
            width=info.width,
            height=info.height,
        )

    return _submit(req, spec, data, reference)


# ---------------------------------------------------------------- read
def _wait_for_final(job: Job, wait_s: float) -> Job:
    """Block until the job is final or wait_s passes, on Redis pub/sub (no polling loop)."""
    s = services()
    pubsub = s.redis.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(s.store.channel(job.id))
        # Re-read after subscribing: a job that finished in between would otherwise be missed.
        current = s.store.get(job.id) or job
        deadline = time.monotonic() + wait_s
        while not current.terminal:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            msg = pubsub.get_message(timeout=left)
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
    jobs = services().store.list_for_tenant(
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
