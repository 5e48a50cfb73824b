"""/v1/batches: bulk backfill of objects already in storage (see workers/planner.py and docs/backfill.md).

The gateway only validates, records the batch and answers; listing and queueing happen in the
planner (a thread in the webhook worker, or `ocrq planner`), a window of items at a time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, cast

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from api.auth import require_key, require_scope
from api.context import services, tenant
from api.contract import Reply, contract
from api.inputs import parse_spec
from api.problems import BucketNotAllowed
from api.webhook_guard import check_webhook_url
from shared import errors
from shared.api_schemas.batches import (
    BatchCreate,
    BatchId,
    BatchList,
    BatchOut,
    DryRunOut,
    FailureList,
    FailuresQuery,
    RetryOut,
    SourceIn,
)
from shared.batches.control import batch_view, cancel_batch, retry_failed
from shared.batches.dedup import Transient, classify
from shared.batches.model import (
    FINAL_BATCH,
    MANIFEST_MAX_BYTES,
    Batch,
    bkey,
    bulk_engine,
    create_batch,
    new_batch_id,
    tenant_batches,
)
from shared.batches.sources import Source, parse_manifest
from shared.infra.blobs import BlobNotFound, BlobStoreError
from shared.infra.redis_client import as_str
from shared.jobs.lifecycle import NotCancelable

bp = Blueprint("batches", __name__)

MANIFEST_INLINE_MAX = 16 * 1024 * 1024
DRY_RUN_MAX_S = 120.0
SAMPLES = 20


class BatchNotFound(errors.NotFound):
    """No batch with this id for this tenant."""

    code = "batch_not_found"


class ManifestNotFound(errors.NotFound):
    """No manifest object at the key the batch's source names."""

    code = "manifest_not_found"


class InvalidManifest(errors.Unprocessable):
    """The manifest cannot be read as JSONL or CSV of object keys."""

    code = "invalid_manifest"


class BatchCanceled(errors.Conflict):
    """The batch was canceled: its failures cannot be retried."""

    code = "batch_canceled"


def _answer(model: type[BaseModel], data: Any) -> dict[str, Any]:
    """``data`` as the model answers it: every key the model knows, as given."""
    out: dict[str, Any] = model.model_validate(data).model_dump(mode="json", exclude_unset=True)
    return out


def _norm_prefix(p: str) -> str:
    p = p.lstrip("/")
    return p if not p or p.endswith("/") else p + "/"


def _find(batch_id: str) -> Batch:
    b = Batch.load(services().redis, batch_id) if batch_id.startswith("bat_") else None
    if b is None or b.tenant != tenant():
        raise BatchNotFound(f"no batch {batch_id}")
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
                raise errors.TooLarge(f"an inline manifest is at most {MANIFEST_INLINE_MAX} bytes")
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
                raise InvalidManifest(str(err)) from None
    except BlobNotFound:
        raise ManifestNotFound(f"no manifest object {src.manifest!r} in bucket {src.bucket!r}") from None
    except ValueError as err:
        raise errors.ValidationFailed("source.manifest", str(err)) from None
    return manifest_bucket, manifest_key, total


@bp.post("/v1/batches")
@require_key
@require_scope("submit")
@contract("createBatch", "batches", "Backfill a bucket prefix or a manifest (dry_run: count what would run)",
          json=BatchCreate,
          replies={202: Reply("Accepted: the planner queues it a window at a time", BatchOut, headers=("Location",)),
                   200: Reply("Dry run: what would run", DryRunOut)},
          errors=(400, 403, 404, 409, 413, 415, 422, 503))
def create(body: BatchCreate) -> ResponseReturnValue:
    s = services()
    req = body
    spec = parse_spec(req.model_dump())
    allowed = s.keys.allowed_buckets(tenant())
    for what, bucket in (("source", req.source.bucket), ("output", req.output.bucket)):
        if bucket not in allowed:
            raise BucketNotAllowed(f"this tenant may not use bucket {bucket!r} ({what})")
    if req.webhook_url:
        check_webhook_url(req.webhook_url)
    out_prefix = _norm_prefix(req.output.prefix)
    batch_id = new_batch_id()
    src = req.source
    manifest_bucket, manifest_key, total = _manifest(req.source, batch_id)
    prefix = (src.prefix or "").lstrip("/")
    if req.dry_run:
        return jsonify(_answer(DryRunOut, _dry_run(req, spec, batch_id, prefix, manifest_bucket, manifest_key,
                                                   out_prefix, total)))
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
    resp = jsonify(_answer(BatchOut, batch_view(s.redis, b)))
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
    b = _dry_run_batch(req, spec, batch_id, prefix, manifest_bucket, manifest_key, out_prefix)
    engine = bulk_engine(s.redis, s.settings.engine)
    version = engine[1]
    seen = _tally(b, engine, req.dry_run_limit)
    return {
        "dry_run": True,
        "listed": seen.listed,
        "truncated": seen.truncated,
        "total": total,
        "would_run": seen.counts["run"],
        "would_skip": seen.counts["skip"],
        "would_fail": seen.counts["fail"],
        "engine": engine[0],
        "engine_version": version,
        "note": None if version else "no worker has recorded its engine version yet: nothing can be known done",
        "source": {"bucket": b.src_bucket, **({"manifest": manifest_key} if manifest_key else {"prefix": prefix})},
        "output": {"bucket": b.out_bucket, "prefix": out_prefix, "formats": list(req.formats)},
        "samples": seen.samples,
    }


def _dry_run_batch(
    req: BatchCreate, spec: Any, batch_id: str, prefix: str, manifest_bucket: str, manifest_key: str, out_prefix: str,
) -> Batch:
    """The batch the request would create, never stored: listing and classifying read only this."""
    return Batch(
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


@dataclass
class _Tally:
    """What a dry run saw: items listed, the verdicts counted, the first SAMPLES of each kind."""

    listed: int = 0
    truncated: bool = False  # stopped at the request's limit or at DRY_RUN_MAX_S
    counts: dict[str, int] = field(default_factory=lambda: {"run": 0, "skip": 0, "fail": 0})
    samples: dict[str, list[Any]] = field(default_factory=lambda: {"run": [], "skip": [], "fail": []})


def _tally(b: Batch, engine: tuple[str, str | None], limit: int) -> _Tally:
    """Classify the source's items as the planner would (mirroring nothing), up to ``limit`` items
    and DRY_RUN_MAX_S seconds, so a huge prefix answers in bounded time, marked truncated."""
    s = services()
    seen = _Tally()
    deadline = time.monotonic() + DRY_RUN_MAX_S
    try:
        for _, item in Source(s.blobs, b).items(""):
            if item is None:
                continue
            if seen.listed >= limit or time.monotonic() > deadline:
                seen.truncated = True
                break
            seen.listed += 1
            v = classify(s.blobs, s.settings, b, item, engine, write_mirror=False)
            seen.counts[v.kind] += 1
            if len(seen.samples[v.kind]) < SAMPLES:
                seen.samples[v.kind].append(
                    {"key": item.key, "code": v.code, "message": v.message} if v.kind == "fail" else item.key
                )
    except (Transient, BlobStoreError):
        raise errors.StorageUnavailable() from None
    return seen


@bp.get("/v1/batches")
@require_key
@contract("listBatches", "batches", "The tenant's newest 50 batches", replies={200: Reply("Batches", BatchList)})
def list_batches() -> ResponseReturnValue:
    r = services().redis
    ids = [as_str(x) for x in r.zrevrange(tenant_batches(tenant()), 0, 49)]
    out = []
    for bid in ids:
        b = Batch.load(r, bid)
        if b is not None:
            out.append(batch_view(r, b))
    return jsonify(_answer(BatchList, {"items": out}))


@bp.get("/v1/batches/<batch_id>")
@require_key
@contract("getBatch", "batches", "Counts, throughput and ETA", replies={200: Reply("The batch", BatchOut)},
          errors=(404,))
def get_batch(batch_id: BatchId) -> ResponseReturnValue:
    b = _find(batch_id)
    return jsonify(_answer(BatchOut, batch_view(services().redis, b)))


@bp.delete("/v1/batches/<batch_id>")
@require_key
@require_scope("submit")
@contract("cancelBatch", "batches", "Cancel what has not run yet", replies={200: Reply("Canceled", BatchOut)},
          errors=(403, 404, 409))
def cancel(batch_id: BatchId) -> ResponseReturnValue:
    s = services()
    b = _find(batch_id)
    if b.status in FINAL_BATCH:
        raise NotCancelable(f"batch {batch_id} is already {b.status}")
    cancel_batch(s.redis, s.store, b)
    return jsonify(_answer(BatchOut, batch_view(s.redis, Batch.load(s.redis, batch_id) or b)))


@bp.get("/v1/batches/<batch_id>/failures")
@require_key
@contract("getBatchFailures", "batches", "Failed items with their reasons", query=FailuresQuery,
          replies={200: Reply("One page of failures", FailureList)}, errors=(404,))
def failures(batch_id: BatchId, query: FailuresQuery) -> ResponseReturnValue:
    r = services().redis
    b = _find(batch_id)
    cursor, limit = query.cursor, query.limit
    items: list[dict[str, Any]] = []
    for _ in range(1000):  # HSCAN may return fewer than asked; bounded
        cursor, chunk = r.hscan(bkey(b.id, "failures"), cursor, count=limit)
        items += [json.loads(v) for v in cast(dict[bytes, bytes], chunk).values()]
        if cursor == 0 or len(items) >= limit:
            break
    items.sort(key=lambda x: (x.get("line") or 0, x.get("key") or ""))
    return jsonify(_answer(FailureList, {"items": items, "next_cursor": str(cursor) if cursor else None}))


@bp.post("/v1/batches/<batch_id>/retry-failed")
@require_key
@require_scope("submit")
@contract("retryBatchFailures", "batches", "Queue the failed items again", replies={202: Reply("Queued", RetryOut)},
          errors=(403, 404, 409))
def retry(batch_id: BatchId) -> ResponseReturnValue:
    s = services()
    b = _find(batch_id)
    if b.status == "canceled":
        raise BatchCanceled(f"batch {batch_id} was canceled")
    n = retry_failed(s.redis, b)
    view = batch_view(s.redis, Batch.load(s.redis, batch_id) or b)
    return jsonify(_answer(RetryOut, {"requeued": n, "batch": view})), 202
