"""/v1/jobs: submit (upload or reference), read, long-poll, list, cancel, result, image."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from pydantic import ValidationError

from api.app import services, tenant
from api.auth import require_key
from api.problems import ApiProblem, from_validation
from shared.api_schemas import JobCreate, JobOut
from shared.blobs import BlobNotFound, BlobStoreError, TooLarge, input_key
from shared.images import ImageRejected, inspect
from shared.jobs import InputRef, Job, Status, iso_ms, new_job_id, now_ms
from shared.results import OcrResult
from shared.tasks import TaskSpec, UnsupportedTask, check_engine_supports
from workers.celery_app import QUEUE_INTERACTIVE

bp = Blueprint("jobs", __name__)


@bp.before_request
def _single_valued_query() -> None:
    """A query parameter given twice is ambiguous (which `wait`?): refuse it rather than pick one."""
    for name, values in request.args.lists():
        if len(values) > 1:
            raise ApiProblem(400, "invalid_query", f"query parameter {name!r} given {len(values)} times")

IDEMPOTENCY_TTL_S = 24 * 3600
METADATA_MAX_BYTES = 4096


# ---------------------------------------------------------------- rendering
def job_links(job_id: str) -> dict[str, str]:
    base = f"/v1/jobs/{job_id}"
    return {"self": base, "result": f"{base}/result", "image": f"{base}/image"}


def render_job(job: Job, result: OcrResult | None = None) -> dict[str, Any]:
    out = JobOut(
        id=job.id,
        status=job.status.value,
        task=job.spec.task,
        params=job.spec.params(),
        priority=job.priority,
        attempts=job.attempts,
        created_at=iso_ms(job.created_at) or "",
        updated_at=iso_ms(job.updated_at) or "",
        started_at=iso_ms(job.started_at),
        finished_at=iso_ms(job.finished_at),
        expires_at=iso_ms(job.expires_at),
        input={k: getattr(job.input, k) for k in ("sha256", "bytes", "content_type", "width", "height")},
        metadata=job.metadata,
        webhook_url=job.webhook_url,
        batch_id=job.batch_id,
        error=job.error.model_dump() if job.error else None,
        result=result,
        links=job_links(job.id),
    )
    return out.model_dump(mode="json", exclude_none=False)


def load_result(job: Job) -> OcrResult | None:
    if job.status != Status.succeeded or not job.result_key:
        return None
    try:
        return OcrResult.model_validate_json(services().blobs.get(job.result_key))
    except BlobNotFound:
        raise ApiProblem(410, "expired", "the result of this job has expired or was deleted") from None
    except BlobStoreError:
        raise ApiProblem(503, "storage_unavailable", "storage is unavailable; retry shortly",
                         headers={"Retry-After": "2"}) from None


def find_job(job_id: str) -> Job:
    job = services().store.get_for_tenant(job_id, tenant())
    if job is None:
        raise ApiProblem(404, "job_not_found", f"no job {job_id}")
    if job.expires_at is not None and now_ms() > job.expires_at:
        raise ApiProblem(410, "expired", f"job {job_id} and its data have expired")
    return job


# ---------------------------------------------------------------- submit
def _parse_spec(values: dict[str, Any]) -> TaskSpec:
    try:
        spec = TaskSpec(
            task=values.get("task") or "text",
            fields=tuple(values["fields"]) if values.get("fields") else None,
            target_lang=values.get("target_lang") or None,
            instruction=values.get("instruction") or None,
        )
    except ValidationError as err:
        first = err.errors()[0]
        if first.get("loc") == ("task",):
            raise ApiProblem(400, "unknown_task", f"unknown task {values.get('task')!r}; use one of: "
                             "text, spotting, parse, table, formula, chart, fields, translate, ask") from None
        raise ApiProblem(400, "invalid_task_params", first.get("msg", "invalid").removeprefix("Value error, ")) from None
    try:
        check_engine_supports(services().settings.engine, spec)
    except UnsupportedTask as err:
        raise ApiProblem(400, "unsupported_task", str(err)) from None
    return spec


def _form_options() -> dict[str, Any]:
    """Multipart form fields, in the same shape as the JSON body."""
    form = request.form
    unknown = set(form.keys()) - {"task", "fields", "target_lang", "instruction", "priority", "webhook_url", "metadata"}
    if unknown:
        raise ApiProblem(422, "validation_error", f"{sorted(unknown)[0]}: unknown form field",
                         errors=[{"field": f, "message": "unknown form field"} for f in sorted(unknown)])
    opts: dict[str, Any] = {k: form.get(k) for k in form.keys()}
    if "fields" in opts:
        raw = opts["fields"] or ""
        try:
            opts["fields"] = json.loads(raw) if raw.strip().startswith("[") else [f.strip() for f in raw.split(",") if f.strip()]
        except json.JSONDecodeError:
            raise ApiProblem(400, "invalid_task_params", "fields must be a JSON list or comma-separated names") from None
    if "metadata" in opts:
        try:
            opts["metadata"] = json.loads(opts["metadata"] or "{}")
        except json.JSONDecodeError:
            raise ApiProblem(400, "malformed_json", "metadata must be a JSON object") from None
    return opts


def _check_common(opts: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    priority = opts.get("priority") or QUEUE_INTERACTIVE
    if priority not in ("interactive", "bulk"):
        raise ApiProblem(422, "validation_error", "priority: must be 'interactive' or 'bulk'",
                         errors=[{"field": "priority", "message": "must be 'interactive' or 'bulk'"}])
    metadata = opts.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ApiProblem(422, "validation_error", "metadata: must be a JSON object",
                         errors=[{"field": "metadata", "message": "must be a JSON object"}])
    if len(json.dumps(metadata)) > METADATA_MAX_BYTES:
        raise ApiProblem(422, "validation_error", f"metadata: at most {METADATA_MAX_BYTES} bytes of JSON",
                         errors=[{"field": "metadata", "message": "too large"}])
    webhook_url = opts.get("webhook_url") or None
    if webhook_url:
        from api.webhook_guard import check_webhook_url

        check_webhook_url(webhook_url)
    return priority, metadata, webhook_url


def _backpressure(priority: str) -> None:
    s = services()
    if priority != QUEUE_INTERACTIVE:
        return
    depth = s.redis.llen(QUEUE_INTERACTIVE)
    if depth >= s.settings.interactive_queue_max:
        _release_idempotency()
        raise ApiProblem(503, "queue_full", f"{depth} interactive jobs are waiting; retry shortly",
                         headers={"Retry-After": "5"})


def _fingerprint(sha256: str, spec: TaskSpec, priority: str, metadata: dict[str, Any], webhook_url: str | None) -> str:
    doc = json.dumps([sha256, spec.model_dump(mode="json"), priority, metadata, webhook_url], sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()


def _idempotency_name() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not (1 <= len(key) <= 255) or not key.isprintable():
        raise ApiProblem(400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 printable characters")
    return f"ocrq:idem:{tenant()}:{hashlib.sha256(key.encode()).hexdigest()}"


def _idempotency_claim(fp: str, job_id: str) -> str | None:
    """Reserve the Idempotency-Key for job_id (SET NX: one winner however many requests race).

    Returns the id of the earlier job for the same key and request, or None when this request
    is the first (or carries no key). The same key with a different request is a 409.
    """
    name = _idempotency_name()
    if name is None:
        return None
    mine = json.dumps({"fp": fp, "job_id": job_id})
    r = services().redis
    if r.set(name, mine, nx=True, ex=IDEMPOTENCY_TTL_S):
        g.idem_name = name
        return None
    raw = r.get(name)
    if raw is None:  # the winner gave up (storage error) between our SET and GET: try once more
        if r.set(name, mine, nx=True, ex=IDEMPOTENCY_TTL_S):
            g.idem_name = name
            return None
        raw = r.get(name) or mine.encode()
    prior = json.loads(raw)
    if prior["fp"] != fp:
        raise ApiProblem(409, "idempotency_key_reused",
                         "this Idempotency-Key was already used with a different request (image or options)")
    return str(prior["job_id"])


def _release_idempotency() -> None:
    name = g.get("idem_name")
    if name:
        services().redis.delete(name)
        g.idem_name = None


def _replay(job_id: str) -> Response:
    # The first request with this key may still be storing its job: wait for it briefly.
    s = services()
    name = _idempotency_name()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = s.store.get_for_tenant(job_id, tenant())
        if job is not None:
            resp = jsonify(render_job(job, load_result(job)))
            resp.status_code = 200
            resp.headers["Location"] = f"/v1/jobs/{job.id}"
            resp.headers["Idempotent-Replayed"] = "true"
            return resp
        if name and s.redis.get(name) is None:
            break  # the first request failed and released the key: this one may simply retry
        time.sleep(0.02)
    raise ApiProblem(409, "idempotent_request_in_progress", "a request with this Idempotency-Key is still in progress "
                     "or failed; retry", headers={"Retry-After": "1"})


def _read_upload() -> bytes:
    if "file" not in request.files:
        raise ApiProblem(400, "missing_file", "send the image as multipart/form-data field 'file'")
    data = request.files["file"].read(services().settings.max_upload_bytes + 1)
    if len(data) > services().settings.max_upload_bytes:
        raise ApiProblem(413, "payload_too_large", "the image is larger than the upload limit")
    return data


def _inspect(data: bytes):  # type: ignore[no-untyped-def]
    st = services().settings
    try:
        return inspect(data, formats=st.allowed_formats, max_pixels=st.max_pixels, max_frames=st.max_frames)
    except ImageRejected as err:
        raise ApiProblem(err.status, err.code, err.message) from None


def _enqueue(job: Job) -> None:
    s = services()
    s.store.create(job)
    try:
        s.send_job(job.id, job.priority)
    except Exception:
        # The job is stored and on the 'unsent' list: the reaper will send it. Accepted is accepted.
        import logging

        logging.getLogger("ocrq.api").exception("queue send failed for %s; the reaper will retry", job.id)
        return
    s.store.mark_sent(job.id)


def _accepted(job: Job) -> Response:
    resp = jsonify(render_job(job))
    resp.status_code = 202
    resp.headers["Location"] = f"/v1/jobs/{job.id}"
    return resp


@bp.post("/v1/jobs")
@require_key
def submit():  # type: ignore[no-untyped-def]
    s = services()
    if request.mimetype == "application/json":
        return _submit_reference()
    if request.mimetype != "multipart/form-data":
        raise ApiProblem(415, "unsupported_media_type", "send multipart/form-data with a 'file' field, or a JSON source reference")
    data = _read_upload()
    opts = _form_options()
    spec = _parse_spec(opts)
    priority, metadata, webhook_url = _check_common(opts)
    info = _inspect(data)
    sha = hashlib.sha256(data).hexdigest()
    job_id = new_job_id()
    prior = _idempotency_claim(_fingerprint(sha, spec, priority, metadata, webhook_url), job_id)
    if prior:
        return _replay(prior)  # a retry of an accepted request is answered even when the queue is full
    _backpressure(priority)
    key = input_key(tenant(), sha)
    try:
        if s.blobs.stat(key) is None:  # content-addressed: the same bytes are stored once
            s.blobs.put(key, data, info.content_type)
    except BlobStoreError:
        _release_idempotency()
        raise ApiProblem(503, "storage_unavailable", "storage is unavailable; retry shortly", headers={"Retry-After": "2"}) from None
    job = Job(
        id=job_id,
        tenant=tenant(),
        spec=spec,
        priority=priority,
        input=InputRef(bucket=s.blobs.bucket, key=key, sha256=sha, bytes=len(data),
                       content_type=info.content_type, width=info.width, height=info.height),
        metadata=metadata,
        webhook_url=webhook_url,
    )
    _enqueue(job)
    return _accepted(job)


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
            raise ApiProblem(400, "unknown_task", f"unknown task {body.get('task')!r}; use one of: "
                             "text, spotting, parse, table, formula, chart, fields, translate, ask") from None
        raise from_validation(err) from None
    spec = _parse_spec(req.model_dump())
    priority, metadata, webhook_url = _check_common(req.model_dump())
    if req.source.bucket not in s.keys.allowed_buckets(tenant()):
        raise ApiProblem(403, "bucket_not_allowed", f"this tenant may not read bucket {req.source.bucket!r}")
    try:
        data = s.blobs.get(req.source.key, bucket=req.source.bucket, max_bytes=s.settings.max_upload_bytes)
    except ValueError as err:
        raise ApiProblem(422, "validation_error", f"source.key: {err}") from None
    except BlobNotFound:
        raise ApiProblem(404, "source_not_found", f"no object {req.source.key!r} in bucket {req.source.bucket!r}") from None
    except TooLarge as err:
        raise ApiProblem(413, "payload_too_large", str(err)) from None
    except BlobStoreError:
        raise ApiProblem(503, "storage_unavailable", "storage is unavailable; retry shortly", headers={"Retry-After": "2"}) from None
    info = _inspect(data)
    sha = hashlib.sha256(data).hexdigest()
    job_id = new_job_id()
    prior = _idempotency_claim(_fingerprint(sha, spec, priority, metadata, webhook_url), job_id)
    if prior:
        return _replay(prior)
    _backpressure(priority)
    job = Job(
        id=job_id,
        tenant=tenant(),
        spec=spec,
        priority=priority,
        input=InputRef(bucket=req.source.bucket, key=req.source.key, sha256=sha, bytes=len(data),
                       content_type=info.content_type, width=info.width, height=info.height),
        metadata=metadata,
        webhook_url=webhook_url,
    )
    _enqueue(job)
    return _accepted(job)


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
            raise ApiProblem(400, "invalid_wait", f"wait must be between 0 and {services().settings.wait_max_s} seconds")
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
    job = find_job(job_id)
    if job.status != Status.succeeded:
        raise ApiProblem(409 if job.terminal else 404, "result_not_available",
                         f"job {job_id} is {job.status.value}; a result exists only for succeeded jobs",
                         headers={} if job.terminal else {"Retry-After": "1"})
    return jsonify(load_result(job).model_dump(mode="json"))  # type: ignore[union-attr]


@bp.get("/v1/jobs/<job_id>/image")
@require_key
def get_image(job_id: str):  # type: ignore[no-untyped-def]
    job = find_job(job_id)
    try:
        data = services().blobs.get(job.input.key, bucket=job.input.bucket)
    except BlobNotFound:
        raise ApiProblem(410, "expired", "the input image has expired or was deleted") from None
    return Response(data, mimetype=job.input.content_type, headers={"Cache-Control": "private, max-age=300"})


@bp.delete("/v1/jobs/<job_id>")
@require_key
def cancel_job(job_id: str):  # type: ignore[no-untyped-def]
    s = services()
    job = find_job(job_id)
    purge = request.args.get("purge", "").lower() in ("1", "true", "yes")
    if job.status == Status.queued:
        t = s.store.cancel(job.id)
        job = s.store.get(job.id) or job
        if t.applied:
            from api.webhooks import job_canceled  # the job.canceled webhook event

            job_canceled(job)
        if not t.applied and not purge:
            raise ApiProblem(409, "not_cancelable", f"job {job_id} is already {t.status.value if t.status else 'gone'}")
    elif not purge:
        raise ApiProblem(409, "not_cancelable", f"job {job_id} is {job.status.value}; only queued jobs can be canceled "
                         "(use ?purge=true on a finished job to delete it and its data)")
    if purge:
        if job.status == Status.running:
            raise ApiProblem(409, "job_running", "a running job cannot be purged; retry when it has finished",
                             headers={"Retry-After": "2"})
        _purge(job)
        return Response(status=204)
    return jsonify(render_job(job))


def _purge(job: Job) -> None:
    s = services()
    if job.result_key:
        s.blobs.delete(job.result_key)
    # Only an input ocrq stored itself is deleted: a by-reference source belongs to the tenant.
    # An uploaded input is content-addressed per tenant, so purging deletes those bytes for the
    # tenant's other jobs with the same image too (purge means "forget this image").
    if job.input.bucket == s.blobs.bucket and job.input.key.startswith(f"inputs/{job.tenant}/"):
        s.blobs.delete(job.input.key)
    s.store.delete(job)


@bp.get("/v1/jobs")
@require_key
def list_jobs():  # type: ignore[no-untyped-def]
    args = request.args
    unknown = set(args.keys()) - {"status", "created_after", "limit", "cursor"}
    if unknown:
        raise ApiProblem(400, "invalid_query", f"unknown query parameter {sorted(unknown)[0]!r}")
    try:
        limit = int(args.get("limit", "20"))
    except ValueError:
        raise ApiProblem(400, "invalid_query", "limit must be an integer") from None
    if not 1 <= limit <= 100:
        raise ApiProblem(400, "invalid_query", "limit must be between 1 and 100")
    status = None
    if "status" in args:
        try:
            status = Status(args["status"])
        except ValueError:
            raise ApiProblem(400, "invalid_query", "status must be one of queued, running, succeeded, failed, canceled") from None
    created_after = None
    if "created_after" in args:
        try:
            dt = datetime.fromisoformat(args["created_after"].replace("Z", "+00:00"))
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=timezone.utc)
            created_after = int(dt.timestamp() * 1000)
        except ValueError:
            raise ApiProblem(400, "invalid_query", "created_after must be an ISO 8601 timestamp") from None
    before_ms = before_id = None
    if "cursor" in args:
        try:
            ms, _, bid = base64.urlsafe_b64decode(args["cursor"].encode() + b"==").decode().partition(":")
            before_ms, before_id = int(ms), bid
        except Exception:
            raise ApiProblem(400, "invalid_query", "cursor is not valid; use next_cursor from the previous page") from None
    jobs = services().store.list_for_tenant(
        tenant(), limit=limit + 1, before_ms=before_ms, before_id=before_id, created_after_ms=created_after, status=status
    )
    page, more = jobs[:limit], len(jobs) > limit
    cursor = None
    if more and page:
        last = page[-1]
        cursor = base64.urlsafe_b64encode(f"{last.created_at}:{last.id}".encode()).decode().rstrip("=")
    return jsonify(items=[render_job(j) for j in page], next_cursor=cursor)
