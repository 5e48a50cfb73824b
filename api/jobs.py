"""/v1/jobs: submit (upload or reference), read, long-poll, list, cancel, result, image."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from api import previews
from api.auth import require_key
from api.context import services, tenant
from api.inputs import find_job, load_result, parse_spec
from api.problems import ApiProblem, from_validation
from api.webhook_guard import check_webhook_url
from shared import jsonlimits, result_formats
from shared.api_schemas import JobCreate
from shared.blobs import BlobNotFound, TooLarge, input_key
from shared.broker import JOB_QUEUES, QUEUE_INTERACTIVE
from shared.documents import InvalidPages, as_document, parse_pages
from shared.errors import RescanNeeded
from shared.images import ImageInfo, inspect
from shared.jobs import lifecycle
from shared.jobs.model import InputRef, Job, Status
from shared.jobs.store import JobFilter
from shared.jobs.submit import Draft, Submitted
from shared.jobs.views import render_job
from shared.quality import Quality, assess
from shared.tasks import TASK_NAMES, TaskSpec

bp = Blueprint("jobs", __name__)


@bp.before_request
def _single_valued_query() -> None:
    """A query parameter given twice is ambiguous (which `wait`?): refuse it rather than pick one."""
    for name, values in request.args.lists():
        if len(values) > 1:
            raise ApiProblem(400, "invalid_query", f"query parameter {name!r} given {len(values)} times")

METADATA_MAX_BYTES = 4096


# ---------------------------------------------------------------- reading
# ---------------------------------------------------------------- submit
def _form_options() -> dict[str, Any]:
    """Multipart form fields, in the same shape as the JSON body."""
    form = request.form
    unknown = set(form.keys()) - {"task", "fields", "target_lang", "instruction", "priority", "webhook_url", "metadata",
                                  "pages", "barcodes", "quality"}
    if unknown:
        raise ApiProblem(422, "validation_error", f"{sorted(unknown)[0]}: unknown form field",
                         errors=[{"field": f, "message": "unknown form field"} for f in sorted(unknown)])
    opts: dict[str, Any] = {k: form.get(k) for k in form.keys()}
    if "fields" in opts:
        raw = opts["fields"] or ""
        try:
            opts["fields"] = (
                jsonlimits.loads(raw, what="fields")
                if raw.strip().startswith("[")
                else [f.strip() for f in raw.split(",") if f.strip()]
            )
        except json.JSONDecodeError:
            raise ApiProblem(
                400, "invalid_task_params", "fields must be a JSON list or comma-separated names"
            ) from None
    if "metadata" in opts:
        try:
            opts["metadata"] = jsonlimits.loads(opts["metadata"] or "{}", what="metadata")
        except json.JSONDecodeError:
            raise ApiProblem(400, "malformed_json", "metadata must be a JSON object") from None
    return opts


def _check_common(opts: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    priority = opts.get("priority") or QUEUE_INTERACTIVE
    if priority not in ("interactive", "bulk"):
        raise ApiProblem(
            422,
            "validation_error",
            "priority: must be 'interactive' or 'bulk'",
            errors=[{"field": "priority", "message": "must be 'interactive' or 'bulk'"}],
        )
    metadata = opts.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ApiProblem(
            422,
            "validation_error",
            "metadata: must be a JSON object",
            errors=[{"field": "metadata", "message": "must be a JSON object"}],
        )
    if len(json.dumps(metadata)) > METADATA_MAX_BYTES:
        raise ApiProblem(
            422,
            "validation_error",
            f"metadata: at most {METADATA_MAX_BYTES} bytes of JSON",
            errors=[{"field": "metadata", "message": "too large"}],
        )
    webhook_url = opts.get("webhook_url") or None
    if webhook_url:
        check_webhook_url(webhook_url)
    return priority, metadata, webhook_url


def _read_upload() -> bytes:
    if "file" not in request.files:
        raise ApiProblem(400, "missing_file", "send the image as multipart/form-data field 'file'")
    data = request.files["file"].read(services().settings.max_upload_bytes + 1)
    if len(data) > services().settings.max_upload_bytes:
        raise ApiProblem(413, "payload_too_large", "the image is larger than the upload limit")
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


QUALITY_OPTIONS = ("check", "require")


def _quality_option(opts: dict[str, Any]) -> str | None:
    value = opts.get("quality") or None
    if value is not None and value not in QUALITY_OPTIONS:
        message = f"must be one of: {', '.join(QUALITY_OPTIONS)}"
        raise ApiProblem(
            422, "validation_error", f"quality: {message}", errors=[{"field": "quality", "message": message}]
        )
    return value


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
    return resp


StoreInput = Callable[[str, ImageInfo], InputRef]  # (sha256, image info) -> where the worker reads it


def _submit(
    spec: TaskSpec,
    common: tuple[str, dict[str, Any], str | None],
    data: bytes,
    store_input: StoreInput,
    pages_spec: str | None = None,
    quality: str | None = None,
) -> Response:
    """The part an upload and a reference share: inspect the image, then the domain's submit."""
    priority, metadata, webhook_url = common
    info, pages = _inspect_input(data, pages_spec, reduced=quality is not None)
    verdict = _verdict(info, quality)  # before anything is stored: a refused photo leaves no trace
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


@bp.post("/v1/jobs")
@require_key
def submit() -> Response:
    if request.mimetype == "application/json":
        return _submit_reference()
    if request.mimetype != "multipart/form-data":
        raise ApiProblem(
            415, "unsupported_media_type", "send multipart/form-data with a 'file' field, or a JSON source reference"
        )
    data = _read_upload()
    opts = _form_options()
    spec, common, quality = parse_spec(opts), _check_common(opts), _quality_option(opts)
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

    return _submit(spec, common, data, store_upload, opts.get("pages"), quality)


def _submit_reference() -> Response:
    s = services()
    body = request.get_json(silent=True)
    if body is None:
        raise ApiProblem(400, "malformed_json", "the request body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiProblem(400, "malformed_json", "the request body must be a JSON object")
    try:
        req = JobCreate.model_validate(body)
    except ValidationError as err:
        if any(e.get("loc") == ("task",) and e.get("type") == "literal_error" for e in err.errors()):
            raise ApiProblem(
                400, "unknown_task", f"unknown task {body.get('task')!r}; use one of: {', '.join(TASK_NAMES)}"
            ) from None
        raise from_validation(err) from None
    opts = req.model_dump()
    spec, common = parse_spec(opts), _check_common(opts)
    src = req.source
    if src.bucket not in s.keys.allowed_buckets(tenant()):
        raise ApiProblem(403, "bucket_not_allowed", f"this tenant may not read bucket {src.bucket!r}")
    try:
        data = s.blobs.get(src.key, bucket=src.bucket, max_bytes=s.settings.max_upload_bytes)
    except ValueError as err:
        raise ApiProblem(422, "validation_error", f"source.key: {err}") from None
    except BlobNotFound:
        raise ApiProblem(404, "source_not_found", f"no object {src.key!r} in bucket {src.bucket!r}") from None
    except TooLarge as err:
        raise ApiProblem(413, "payload_too_large", str(err)) from None

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

    return _submit(spec, common, data, reference, req.pages, req.quality)


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
def get_job(job_id: str):  # type: ignore[no-untyped-def]
    raw_wait = request.args.get("wait")
    wait_s = 0.0
    if raw_wait is not None:
        try:
            wait_s = float(raw_wait)
        except ValueError:
            raise ApiProblem(400, "invalid_wait", "wait must be a number of seconds") from None
        if not 0 <= wait_s <= services().settings.wait_max_s:
            raise ApiProblem(
                400, "invalid_wait", f"wait must be between 0 and {services().settings.wait_max_s} seconds"
            )
    job = find_job(job_id)
    if wait_s > 0 and not job.terminal:
        job = _wait_for_final(job, wait_s)
    resp = jsonify(render_job(job, load_result(job)))
    if not job.terminal:
        resp.headers["Retry-After"] = "1"
    return resp


@bp.get("/v1/jobs/<job_id>/result")
@require_key
def get_result(job_id: str):  # type: ignore[no-untyped-def]
    fmt = result_formats.check_format(request.args.get("format"))
    job = find_job(job_id)
    if job.status != Status.succeeded:
        raise ApiProblem(
            409 if job.terminal else 404,
            "result_not_available",
            f"job {job_id} is {job.status.value}; a result exists only for succeeded jobs",
            headers={} if job.terminal else {"Retry-After": "1"},
        )
    result = load_result(job).model_dump(mode="json")  # type: ignore[union-attr]
    if fmt == "json":
        return jsonify(result)
    return _exported(job, result, fmt)


def _exported(job: Job, result: dict[str, Any], fmt: str) -> Response:
    """The result as text, markdown, hocr or a searchable PDF (whose page images come from the input)."""
    s = services()
    try:
        out = result_formats.export_result(job, result, fmt, blobs=s.blobs, settings=s.settings)
    except BlobNotFound:
        raise ApiProblem(410, "expired", "the input of this job has expired or was deleted") from None
    disposition = "attachment" if fmt == "pdf" else "inline"
    return Response(
        out.body,
        content_type=out.media_type,
        headers={"Content-Disposition": f'{disposition}; filename="{out.filename}"'},
    )


@bp.get("/v1/jobs/<job_id>/image")
@require_key
def get_image(job_id: str):  # type: ignore[no-untyped-def]
    """The stored input as submitted; with `?page=N` (1-based) page N of a document rendered as a
    small JPEG (api/previews.py: bounded dpi, size, time and memory), for an image job its image."""
    raw_page = request.args.get("page")
    page = None
    if raw_page is not None:
        try:
            page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() else 0
        except ValueError:  # more digits than int() reads
            page = 0
        if page < 1:
            raise ApiProblem(400, "invalid_query", "page must be a page number: 1, 2, 3, ... (1-based)")
    job = find_job(job_id)
    total = job.pages_total or 1  # an image is one page
    if page is not None and page > total:
        raise InvalidPages(f"page {page} is out of range; the document has {total} page(s)")
    s = services()
    try:
        data = s.blobs.get(job.input.key, bucket=job.input.bucket)
    except BlobNotFound:
        raise ApiProblem(410, "expired", "the input image has expired or was deleted") from None
    headers = {"Cache-Control": "private, max-age=300"}
    if page is None or job.pages_total is None:
        return Response(data, mimetype=job.input.content_type, headers=headers)
    preview = previews.render_preview(data, page, max_pixels=s.settings.max_pixels)
    return Response(preview, mimetype=previews.MEDIA_TYPE, headers=headers)


@bp.delete("/v1/jobs/<job_id>")
@require_key
def cancel_job(job_id: str) -> Response:
    s = services()
    job = find_job(job_id)
    purging = request.args.get("purge", "").lower() in ("1", "true", "yes")
    job = lifecycle.cancel(s.store, s.outbox, job, purging=purging)
    if purging:
        lifecycle.purge(s.store, s.blobs, job)
        return Response(status=204)
    return jsonify(render_job(job))


LIST_PARAMS = {
    "status",
    "task",
    "priority",
    "batch_id",
    "needs_review",
    "created_after",
    "created_before",
    "limit",
    "cursor",
}


def _iso_ms_arg(args: Any, name: str) -> int | None:
    if name not in args:
        return None
    try:
        dt = datetime.fromisoformat(args[name].replace("Z", "+00:00"))
    except ValueError:
        raise ApiProblem(400, "invalid_query", f"{name} must be an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _list_filter(args: Any) -> JobFilter:
    status = needs_review = None
    if "status" in args:
        try:
            status = Status(args["status"])
        except ValueError:
            raise ApiProblem(
                400, "invalid_query", "status must be one of queued, running, succeeded, failed, canceled"
            ) from None
    if "needs_review" in args:
        flag = args["needs_review"].lower()
        if flag not in ("true", "false"):
            raise ApiProblem(400, "invalid_query", "needs_review must be true or false")
        needs_review = flag == "true"
    task = args.get("task")
    if task is not None and task not in TASK_NAMES:
        raise ApiProblem(400, "invalid_query", f"task must be one of {', '.join(TASK_NAMES)}")
    priority = args.get("priority")
    if priority is not None and priority not in JOB_QUEUES:
        raise ApiProblem(400, "invalid_query", "priority must be interactive or bulk")
    batch_id = args.get("batch_id")
    if batch_id is not None and not 1 <= len(batch_id) <= 64:
        raise ApiProblem(400, "invalid_query", "batch_id must be 1-64 characters")
    return JobFilter(status=status, needs_review=needs_review, task=task, priority=priority, batch_id=batch_id)


@bp.get("/v1/jobs")
@require_key
def list_jobs() -> ResponseReturnValue:
    args = request.args
    unknown = set(args.keys()) - LIST_PARAMS
    if unknown:
        raise ApiProblem(400, "invalid_query", f"unknown query parameter {sorted(unknown)[0]!r}")
    try:
        limit = int(args.get("limit", "20"))
    except ValueError:
        raise ApiProblem(400, "invalid_query", "limit must be an integer") from None
    if not 1 <= limit <= 100:
        raise ApiProblem(400, "invalid_query", "limit must be between 1 and 100")
    before_ms = before_id = None
    if "cursor" in args:
        try:
            ms, _, bid = base64.urlsafe_b64decode(args["cursor"].encode() + b"==").decode().partition(":")
            before_ms, before_id = int(ms), bid
        except Exception:
            raise ApiProblem(
                400, "invalid_query", "cursor is not valid; use next_cursor from the previous page"
            ) from None
        if not 0 <= before_ms < 2**53:
            raise ApiProblem(400, "invalid_query", "cursor is not valid; use next_cursor from the previous page")
    jobs = services().store.list_for_tenant(
        tenant(),
        limit=limit + 1,
        before_ms=before_ms,
        before_id=before_id,
        created_after_ms=_iso_ms_arg(args, "created_after"),
        created_before_ms=_iso_ms_arg(args, "created_before"),
        where=_list_filter(args),
    )
    page, more = jobs[:limit], len(jobs) > limit
    cursor = None
    if more and page:
        last = page[-1]
        cursor = base64.urlsafe_b64encode(f"{last.created_at}:{last.id}".encode()).decode().rstrip("=")
    return jsonify(items=[render_job(j) for j in page], next_cursor=cursor)
