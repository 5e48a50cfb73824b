"""A batch: its record in Redis, its id scheme, the engine it runs on, and where its outputs go."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

import redis

from shared.infra import keyspace
from shared.infra.redis_client import as_str
from shared.jobs.model import now_ms
from shared.jobs.task_spec import TaskSpec
from shared.results.formats import get_format

ACTIVE = keyspace.BATCHES_ACTIVE
WAKE = keyspace.PLANNER_WAKE
LEDGER_SHARD_ROWS = 1000
MANIFEST_MAX_BYTES = 256 * 1024 * 1024
SWEEP_GRACE_MS = 3000  # a finished job the hook has not accounted for this long is the sweep's
LOCK_MS = 20_000
FINAL_BATCH = ("completed", "canceled")
NOT_RETRYABLE = {"duplicate_key", "invalid_key"}
# Per-page counters beside the item counters (a PDF/TIFF item counts its pages, an image one).
PAGE_COUNTERS = ("pages_total", "pages_done", "pages_failed", "pages_skipped")


def new_batch_id() -> str:
    return "bat_" + secrets.token_urlsafe(16)


bkey = keyspace.batch
tenant_batches = keyspace.tenant_batches
BULK_ENGINE = keyspace.BULK_ENGINE
engine_key = keyspace.engine_version


def record_engine_version(r: redis.Redis, name: str, version: str, *, serves_bulk: bool) -> None:
    """Workers call this once consuming, so planners know which engine a bulk result comes from.

    The planner cannot use its own OCRQ_ENGINE: it runs in the webhook worker, which loads no
    engine and is usually left on the default. With several engines on `bulk` the last worker to
    start wins; a rerun may then redo items another engine did (documented in docs/backfill.md).
    """
    pipe = r.pipeline(transaction=False)
    pipe.set(engine_key(name), version)
    if serves_bulk:
        pipe.set(BULK_ENGINE, name)
    pipe.execute()


def bulk_engine(r: redis.Redis, default: str) -> tuple[str, str | None]:
    """(name, version) of the engine bulk items will run on; version None if no worker said yet."""
    name = as_str(r.get(BULK_ENGINE)) or default
    version = r.get(engine_key(name))
    return name, (as_str(version) if version else None)


def fingerprint(sha256: str, spec: TaskSpec, engine: str, version: str) -> str:
    doc = json.dumps([sha256, spec.model_dump(mode="json"), engine, version], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


def join_key(prefix: str, key: str) -> str:
    return f"{prefix}{key}" if not prefix or prefix.endswith("/") else f"{prefix}/{key}"


def mirror_key(out_prefix: str, source_key: str) -> str:
    return join_key(out_prefix, source_key) + ".json"


def output_key(out_prefix: str, source_key: str, fmt: str) -> str:
    """Where an item's output in `fmt` goes: `<prefix>/<key>.<suffix>` (the format's, shared/results/formats.py:
    `.json`, `.txt`, `.md`, `.hocr`, `.pdf`)."""
    return join_key(out_prefix, source_key) + "." + get_format(fmt).suffix


def done_key(out_prefix: str, source_key: str) -> str:
    """The record of a finished item when its JSON mirror is not written (json not in output_format):
    the fingerprint and formats that a rerun compares, as the mirror's `ocrq` block does otherwise."""
    return join_key(out_prefix, f"_done/{source_key}.json")


def cas_key(out_prefix: str, fp: str) -> str:
    return join_key(out_prefix, f"_cas/{fp[:2]}/{fp}.json")


def ledger_key(out_prefix: str, batch_id: str, seq: int) -> str:
    return join_key(out_prefix, f"_ledger/{batch_id}/{seq:06d}.jsonl")


# ----------------------------------------------------------------------------------- batch record
@dataclass
class Batch:
    id: str
    tenant: str
    status: str
    spec: TaskSpec
    src_bucket: str
    src_prefix: str
    glob: str
    manifest_bucket: str
    manifest_key: str
    out_bucket: str
    out_prefix: str
    webhook_url: str
    window: int
    secret: str
    raw: dict[str, str]

    @classmethod
    def load(cls, r: redis.Redis, batch_id: str) -> Batch | None:
        raw = {as_str(k): as_str(v) for k, v in r.hgetall(bkey(batch_id)).items()}
        if not raw:
            return None
        return cls(
            id=raw["id"], tenant=raw["tenant"], status=raw["status"], spec=TaskSpec.model_validate_json(raw["spec"]),
            src_bucket=raw["src_bucket"], src_prefix=raw.get("src_prefix", ""), glob=raw.get("glob", ""),
            manifest_bucket=raw.get("manifest_bucket", ""), manifest_key=raw.get("manifest_key", ""),
            out_bucket=raw["out_bucket"], out_prefix=raw.get("out_prefix", ""), webhook_url=raw.get("webhook_url", ""),
            window=int(raw["window"]), secret=raw["secret"], raw=raw,
        )

    def n(self, field: str) -> int:
        return int(self.raw.get(field) or 0)

    @property
    def cursor(self) -> str:
        return self.raw.get("cursor", "")

    @property
    def listing_done(self) -> bool:
        return self.raw.get("listing_done") == "1"

    @property
    def output_formats(self) -> tuple[str, ...]:
        """The formats written per item, in the order asked; ("json",) for batches made before formats."""
        return tuple(f for f in (self.raw.get("output_formats") or "json").split(",") if f)

    def record_key(self, source_key: str) -> str:
        """The object that says an item is done (fingerprint, formats): its mirror, or a _done record."""
        if "json" in self.output_formats:
            return mirror_key(self.out_prefix, source_key)
        return done_key(self.out_prefix, source_key)

    def job_id(self, item_id: str, round_: int) -> str:
        mac = hmac.new(self.secret.encode(), f"{self.id}|{round_}|{item_id}".encode(), hashlib.sha256).digest()
        return "job_" + base64.urlsafe_b64encode(mac[:20]).decode().rstrip("=")


def create_batch(r: redis.Redis, *, batch_id: str, tenant: str, spec: TaskSpec, src_bucket: str, src_prefix: str = "",
                 glob: str = "", manifest_bucket: str = "", manifest_key: str = "", total: int | None = None,
                 out_bucket: str, out_prefix: str, window: int, webhook_url: str = "",
                 output_formats: tuple[str, ...] = ("json",)) -> None:
    now = now_ms()
    fields: dict[Any, str] = {
        "id": batch_id, "tenant": tenant, "status": "running", "spec": spec.model_dump_json(),
        "src_bucket": src_bucket, "src_prefix": src_prefix, "glob": glob,
        "manifest_bucket": manifest_bucket, "manifest_key": manifest_key,
        "out_bucket": out_bucket, "out_prefix": out_prefix, "webhook_url": webhook_url or "",
        "output_formats": ",".join(output_formats or ("json",)),
        "window": str(window), "secret": secrets.token_hex(16),
        "cursor": "", "listing_done": "0", "total": "" if total is None else str(total),
        "planned": "0", "succeeded": "0", "failed": "0", "skipped": "0", "canceled": "0",
        "created_at": str(now), "started_at": str(now), "finished_at": "", "ledger_seq": "0", "round": "0",
        "rate": "0", "rate_ts": str(now), "rate_done": "0",
        **{k: "0" for k in PAGE_COUNTERS},
    }
    pipe = r.pipeline(transaction=True)
    pipe.hset(bkey(batch_id), mapping=fields)
    pipe.zadd(tenant_batches(tenant), {batch_id: now})
    pipe.sadd(ACTIVE, batch_id)
    pipe.lpush(WAKE, batch_id)
    pipe.ltrim(WAKE, 0, 999)
    pipe.execute()


# ------------------------------------------------------------------------------------ Lua scripts
# Move an item from "listed" to registered: cursor compare-and-set, counters, ledger row, failure.
# KEYS: batch, inflight, failures, ledger, retry
# ARGV: expected cursor ("\0" = no check), new cursor, kind (queue|skip|fail|cursor), job id,
#       item json, ledger row, failure field, failure json, count as planned (1/0), pop retry (1/0),
#       pages the item counts (queue: pages_total; skip: pages_total and pages_skipped)
