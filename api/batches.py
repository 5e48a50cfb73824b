"""/v1/batches: bulk backfill of objects already in storage (see workers/backfill.py and docs/backfill.md).

The gateway only validates, records the batch and answers; listing and queueing happen in the
planner (a thread in the webhook worker, or `ocrq planner`), a window of items at a time.
"""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Annotated, Any, Literal

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from api.auth import require_key
from api.context import services, tenant
from api.inputs import parse_spec
from api.problems import ApiProblem, from_validation
from api.webhook_guard import check_webhook_url
from shared import keys
from shared.batches.control import batch_view, cancel_batch, retry_failed
from shared.batches.dedup import Transient, classify
from shared.batches.model import (
    FINAL_BATCH,
    MANIFEST_MAX_BYTES,
    OUTPUT_FORMATS,
    Batch,
    bkey,
    bulk_engine,
    create_batch,
    new_batch_id,
    tenant_batches,
)
from shared.batches.sources import Source, parse_manifest
from shared.blobs import BlobNotFound, BlobStoreError, TooLarge

bp = Blueprint("batches", __name__)

MANIFEST_INLINE_MAX = 16 * 1024 * 1024
DRY_RUN_MAX_ITEMS = 100_000
DRY_RUN_MAX_S = 120.0
SAMPLES = 20


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str = Field(min_length=1, max_length=63)
    prefix: str | None = Field(default=None, max_length=1024)
    glob: str | None = Field(default=None, max_length=256)
    manifest: str | None = Field(
        default=None, max_length=1024, description="key of a JSONL or CSV manifest in the bucket"
    )
    manifest_text: str | None = Field(
        default=None, description="the manifest itself (JSONL or CSV), stored by the gateway"
    )
    manifest_format: Literal["jsonl", "csv"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SourceIn:
        kinds = sum(x is not None for x in (self.prefix, self.manifest, self.manifest_text))
        if kinds != 1:
            raise ValueError("give exactly one of prefix, manifest or manifest_text")
        if self.glob and self.prefix is None:
            raise ValueError("glob applies to a prefix source only")
        return self


class OutputIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str = Field(min_length=1, max_length=63)
    prefix: str = Field(default="", max_length=1024)


OutputFormat = Literal["json", "text", "markdown", "hocr", "pdf"]


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: SourceIn
    output: OutputIn
    output_format: OutputFormat | Annotated[list[OutputFormat], Field(min_length=1, max_length=5)] = Field(
        default="json",
        description="what is written per item under the output prefix: <key>.json (the result, default), "
        "<key>.pdf (searchable PDF), <key>.hocr, <key>.txt (text), <key>.md (markdown); one or a list. "
        "Without json, a small _done/<key>.json record replaces the result JSON (rerun dedup).",
    )
    task: str = "text"
    fields: list[str] | None = Field(default=None, max_length=64)
    target_lang: Literal["en", "zh"] | None = None
    instruction: str | None = Field(default=None, max_length=2000)
    webhook_url: str | None = Field(default=None, max_length=2048)
    window: int | None = Field(default=None, ge=1, le=10_000, description="items in flight at once for this batch")
    dry_run: bool = False
    dry_run_limit: int = Field(default=10_000, ge=1, le=DRY_RUN_MAX_ITEMS)

    @field_validator("output_format", mode="before")
    @classmethod
    def _known_formats(cls, value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        allowed = ", ".join(OUTPUT_FORMATS)
        if not values:
            raise ValueError(f"give at least one of {allowed}")
        bad = [v for v in values if v not in OUTPUT_FORMATS]
        if bad:
            raise ValueError(f"must be one of {allowed} (or a list of them); got {bad[0]!r}")
        return value

    @property
    def formats(self) -> tuple[str, ...]:
        values = self.output_format if isinstance(self.output_format, list) else [self.output_format]
        return tuple(dict.fromkeys(values))  # in the order given, once each


def _norm_prefix(p: str) -> str:
    p = p.lstrip("/")
    return p if not p or p.endswith("/") else p + "/"


def _find(batch_id: str) -> Batch:
    b = Batch.load(services().redis, batch_id) if batch_id.startswith("bat_") else None
    if b is None or b.tenant != tenant():
        raise ApiProblem(404, "batch_not_found", f"no batch {batch_id}")
    return b


def _manifest(src: SourceIn, batch_id: str) -> tuple[str, str, int | None]:
    """(bucket, key, item count) of the batch's manifest: an inline one is stored first; none for a prefix."""
    s = services()
    manifest_bucket = manifest_key = ""
    total: int | None = None
    try:
        if src.manifest_text is not None:
            data = src.manifest_text.encode()
            if len(data) > MANIFEST_INLINE_MAX:
                raise ApiProblem(413, "payload_too_large", f"an inline manifest is at most {MANIFEST_INLINE_MAX} bytes")
            ext = src.manifest_format or ("jsonl" if src.manifest_text.lstrip()[:1] in ("{", '"') else "csv")
            manifest_bucket, manifest_key = s.blobs.bucket, f"batches/{tenant()}/{batch_id}/manifest.{ext}"
            s.blobs.put(manifest_key, data, "text/plain", bucket=manifest_bucket)
        elif src.manifest is not None:
            manifest_bucket, manifest_key = src.bucket, src.manifest
            data = s.blobs.get(manifest_key, bucket=manifest_bucket, max_bytes=MANIFEST_MAX_BYTES)
        if manifest_key:
            try:
                total = len(parse_manifest(data, manifest_key))
            except ValueError as err:
                raise ApiProblem(422, "invalid_manifest", str(err)) from None
    except BlobNotFound:
        raise ApiProblem(
            404, "manifest_not_found", f"no manifest object {src.manifest!r} in bucket {src.bucket!r}"
        ) from None
    except TooLarge as err:
        raise ApiProblem(413, "payload_too_large", str(err)) from None
    except ValueError as err:
        raise ApiProblem(422, "validation_error", f"source.manifest: {err}") from None
    return manifest_bucket, manifest_key, total


@bp.post("/v1/batches")
@require_key
def create() -> ResponseReturnValue:
    s = services()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiProblem(400, "malformed_json", "send a JSON object")
    try:
        req = BatchCreate.model_validate(body)
    except ValidationError as err:
        raise from_validation(err) from None
    spec = parse_spec(req.model_dump())
    allowed = s.keys.allowed_buckets(tenant())
    for what, bucket in (("source", req.source.bucket), ("output", req.output.bucket)):
        if bucket not in allowed:
            raise ApiProblem(403, "bucket_not_allowed", f"this tenant may not use bucket {bucket!r} ({what})")
    if req.webhook_url:
        check_webhook_url(req.webhook_url)
    out_prefix = _norm_prefix(req.output.prefix)
    batch_id = new_batch_id()
    src = req.source
    manifest_bucket, manifest_key, total = _manifest(req.source, batch_id)
    prefix = (src.prefix or "").lstrip("/")
    if req.dry_run:
        return jsonify(_dry_run(req, spec, batch_id, prefix, manifest_bucket, manifest_key, out_prefix, total))
    create_batch(
        s.redis,
        batch_id=batch_id,
        tenant=tenant(),
        spec=spec,
        src_bucket=src.bucket,
        src_prefix=prefix,
        glob=src.glob or "",
        manifest_bucket=manifest_bucket,
        manifest_key=manifest_key,
        total=total,
        out_bucket=req.output.bucket,
        out_prefix=out_prefix,
        webhook_url=req.webhook_url or "",
        window=req.window or s.settings.batch_window,
        output_formats=req.formats,
    )
    b = Batch.load(s.redis, batch_id)
    assert b is not None
    resp = jsonify(batch_view(s.redis, b))
    resp.status_code = 202
    resp.headers["Location"] = f"/v1/batches/{batch_id}"
    return resp


def _dry_run(
    req: BatchCreate,
    spec: Any,
    batch_id: str,
    prefix: str,
    manifest_bucket: str,
    manifest_key: str,
    out_prefix: str,
    total: int | None,
) -> dict[str, Any]:
    """List and classify without queueing or writing anything: what would run, be skipped, fail."""
    s = services()
    b = Batch(
        id=batch_id,
        tenant=tenant(),
        status="dry_run",
        spec=spec,
        src_bucket=req.source.bucket,
        src_prefix=prefix,
        glob=req.source.glob or "",
        manifest_bucket=manifest_bucket,
        manifest_key=manifest_key,
        out_bucket=req.output.bucket,
        out_prefix=out_prefix,
        webhook_url="",
        window=1,
        secret="",
        raw={"output_formats": ",".join(req.formats)},
    )
    engine = bulk_engine(s.redis, s.settings.engine)
    version = engine[1]
    counts = {"run": 0, "skip": 0, "fail": 0}
    samples: dict[str, list[Any]] = {"run": [], "skip": [], "fail": []}
    listed, truncated = 0, False
    deadline = time.monotonic() + DRY_RUN_MAX_S
    try:
        for _, item in Source(s.blobs, b).items(""):
            if item is None:
                continue
            if listed >= req.dry_run_limit or time.monotonic() > deadline:
                truncated = True
                break
            listed += 1
            v = classify(s.blobs, s.settings, b, item, engine, write_mirror=False)
            counts[v.kind] += 1
            if len(samples[v.kind]) < SAMPLES:
                samples[v.kind].append(
                    {"key": item.key, "code": v.code, "message": v.message} if v.kind == "fail" else item.key
                )
    except (Transient, BlobStoreError):
        raise ApiProblem(
            503, "storage_unavailable", "storage is unavailable; retry shortly", headers={"Retry-After": "2"}
        ) from None
    return {
        "dry_run": True,
        "listed": listed,
        "truncated": truncated,
        "total": total,
        "would_run": counts["run"],
        "would_skip": counts["skip"],
        "would_fail": counts["fail"],
        "engine": engine[0],
        "engine_version": version,
        "note": None if version else "no worker has recorded its engine version yet: nothing can be known done",
        "source": {"bucket": b.src_bucket, **({"manifest": manifest_key} if manifest_key else {"prefix": prefix})},
        "output": {"bucket": b.out_bucket, "prefix": out_prefix, "formats": list(req.formats)},
        "samples": samples,
    }


@bp.get("/v1/batches")
@require_key
def list_batches() -> ResponseReturnValue:
    r = services().redis
    ids = [keys.text(x) for x in r.zrevrange(tenant_batches(tenant()), 0, 49)]
    out = []
    for bid in ids:
        b = Batch.load(r, bid)
        if b is not None:
            out.append(batch_view(r, b))
    return jsonify(items=out)


@bp.get("/v1/batches/<batch_id>")
@require_key
def get_batch(batch_id: str) -> ResponseReturnValue:
    b = _find(batch_id)
    return jsonify(batch_view(services().redis, b))


@bp.delete("/v1/batches/<batch_id>")
@require_key
def cancel(batch_id: str) -> ResponseReturnValue:
    s = services()
    b = _find(batch_id)
    if b.status in FINAL_BATCH:
        raise ApiProblem(409, "not_cancelable", f"batch {batch_id} is already {b.status}")
    cancel_batch(s.redis, s.store, b)
    return jsonify(batch_view(s.redis, Batch.load(s.redis, batch_id) or b))


@bp.get("/v1/batches/<batch_id>/failures")
@require_key
def failures(batch_id: str) -> ResponseReturnValue:
    r = services().redis
    b = _find(batch_id)
    cursor_text, limit_text = request.args.get("cursor", "0"), request.args.get("limit", "100")
    if not (
        cursor_text.isascii()
        and cursor_text.isdigit()
        and limit_text.isascii()
        and limit_text.isdigit()
        and 1 <= int(limit_text) <= 1000
        and len(cursor_text) <= 20
        and int(cursor_text) < 2**64  # Redis cursors are unsigned 64-bit
    ):
        raise ApiProblem(400, "invalid_query", "cursor must be a next_cursor value; limit an integer from 1 to 1000")
    cursor, limit = int(cursor_text), int(limit_text)
    items: list[dict[str, Any]] = []
    for _ in range(1000):  # HSCAN may return fewer than asked; bounded
        cursor, chunk = r.hscan(bkey(b.id, "failures"), cursor, count=limit)
        items += [json.loads(v) for v in chunk.values()]
        if cursor == 0 or len(items) >= limit:
            break
    items.sort(key=lambda x: (x.get("line") or 0, x.get("key") or ""))
    return jsonify(items=items, next_cursor=str(cursor) if cursor else None)


@bp.post("/v1/batches/<batch_id>/retry-failed")
@require_key
def retry(batch_id: str) -> ResponseReturnValue:
    s = services()
    b = _find(batch_id)
    if b.status == "canceled":
        raise ApiProblem(409, "batch_canceled", f"batch {batch_id} was canceled")
    n = retry_failed(s.redis, b)
    view = batch_view(s.redis, Batch.load(s.redis, batch_id) or b)
    return jsonify(requeued=n, batch=view), 202


# ---------------------------------------------------------------- OpenAPI (merged into /openapi.json)
def _inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic schema with its `$defs` inlined: inside /openapi.json, `#/$defs/...` would point at the root."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def openapi_paths() -> dict[str, Any]:
    from api.openapi import error_responses, json_response, operation

    count = {"type": "integer", "minimum": 0}
    batch = {
        "type": "object",
        "required": ["id", "status", "counts"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string"},
            "task": {"type": "string"},
            "counts": {
                "type": "object",
                "description": "items by state, and pages beside them (a PDF/TIFF item counts its pages, an "
                "image one): pages_total as items are planned, pages_done/pages_failed as they finish, "
                "pages_skipped for items done before",
                "properties": {
                    k: count
                    for k in (
                        "planned", "queued", "running", "succeeded", "failed", "skipped", "canceled",
                        "pages_total", "pages_done", "pages_failed", "pages_skipped",
                    )
                },
            },
            "output": {
                "type": "object",
                "properties": {
                    "bucket": {"type": "string"},
                    "prefix": {"type": "string"},
                    "ledger": {"type": "string"},
                    "formats": {"type": "array", "items": {"type": "string", "enum": list(OUTPUT_FORMATS)}},
                },
            },
            "done": count,
            "total": {"type": ["integer", "null"]},
            "eta_s": {"type": ["number", "null"]},
            "throughput_items_per_s": {"type": "number"},
            "average_items_per_s": {"type": "number"},
        },
    }
    batch_id = {
        "name": "batch_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    }
    op = partial(operation, "batches")

    return {
        "/v1/batches": {
            "post": op(
                "createBatch",
                "Backfill a bucket prefix or a manifest (dry_run: count what would run)",
                {
                    "202": json_response(batch, "Accepted: the planner queues it a window at a time"),
                    "200": json_response({"type": "object", "required": ["dry_run"]}, "Dry run: what would run"),
                    **error_responses(400, 403, 404, 409, 413, 415, 422, 503),
                },
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _inline_defs(BatchCreate.model_json_schema())}},
                },
            ),
            "get": op(
                "listBatches",
                "The tenant's newest 50 batches",
                {
                    "200": json_response(
                        {"type": "object", "properties": {"items": {"type": "array", "items": batch}}}, "Batches"
                    ),
                    **error_responses(),
                },
            ),
        },
        "/v1/batches/{batch_id}": {
            "parameters": [batch_id],
            "get": op(
                "getBatch",
                "Counts, throughput and ETA",
                {"200": json_response(batch, "The batch"), **error_responses(404)},
            ),
            "delete": op(
                "cancelBatch",
                "Cancel what has not run yet",
                {"200": json_response(batch, "Canceled"), **error_responses(404, 409)},
            ),
        },
        "/v1/batches/{batch_id}/failures": {
            "parameters": [batch_id],
            "get": op(
                "getBatchFailures",
                "Failed items with their reasons",
                {
                    "200": json_response(
                        {
                            "type": "object",
                            "properties": {
                                "items": {"type": "array", "items": {"type": "object"}},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                        "One page of failures",
                    ),
                    **error_responses(404),
                },
                parameters=[
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "pattern": "^[0-9]+$"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],
            ),
        },
        "/v1/batches/{batch_id}/retry-failed": {
            "parameters": [batch_id],
            "post": op(
                "retryBatchFailures",
                "Queue the failed items again",
                {
                    "202": json_response(
                        {"type": "object", "properties": {"requeued": count, "batch": batch}}, "Queued"
                    ),
                    **error_responses(404, 409),
                },
            ),
        },
    }
