"""POST /v1/jobs: one image or document, uploaded (multipart) or referenced in an allowed bucket (JSON).

The gateway checks it cheaply before anything is stored (the decode, the page count, the rescan
verdict), then hands the domain's submit a draft; the reads of a job are api/jobs.py.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request

from api.auth import require_key, require_scope
from api.context import services, tenant
from api.contract import Reply, contract, single_valued_query
from api.inputs import load_result, parse_spec
from api.problems import BucketNotAllowed, mib
from api.webhook_guard import check_webhook_url
from shared import errors
from shared.api_schemas.jobs import (
    JobCreate,
    JobOptions,
    JobOut,
    JobUpload,
    SubmitHeaders,
)
from shared.errors import RescanNeeded
from shared.infra.blobs import BlobNotFound, input_key
from shared.intake.documents import as_document
from shared.intake.images import ImageInfo, inspect
from shared.intake.page_selection import parse_pages
from shared.intake.quality import Quality, assess
from shared.jobs.model import InputRef
from shared.jobs.submit import Draft, Submitted
from shared.jobs.task_spec import TaskSpec
from shared.jobs.views import render_job

bp = Blueprint("submit", __name__)
bp.before_request(single_valued_query)


class SourceNotFound(errors.NotFound):
    """No such object in the bucket a JSON submit names."""

    code = "source_not_found"


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
