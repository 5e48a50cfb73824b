"""Bulk backfill of objects already in storage: the batch planner, the finished hook, the ledger.

A batch points at a source (a prefix, optionally globbed, or a manifest of keys) and an output
prefix. Nothing is copied: each item becomes a `bulk` job whose input *is* the source object.

Redis holds, per batch, only what does not grow with the batch (key layout, prefix ``ocrq:``):
  batch:<id>              hash: config, listing cursor, counters, rate, ledger shard sequence
  batch:<id>:inflight     hash: job id -> item (at most `window` entries)
  batch:<id>:ledger       list: ledger rows not yet written as a shard (flushed every tick)
  batch:<id>:retry        list: failed items handed back by retry-failed
  batch:<id>:failures     hash: item -> reason (grows with failures only)
  batch:<id>:lock         string: the planner that owns the batch right now (short TTL)
  batches:active          set: batches a planner should look at
  tenant:<t>:batches      zset: a tenant's batches by creation time
  planner:wake            list: nudges from the finished hook ("a slot is free")
  engine:<name>:version   string: the engine version workers run (recorded at worker start)
  engine:bulk             string: the name of the engine the workers consuming `bulk` run

Dedup lives in the object store, not in Redis, so it scales with the bucket, not with Redis memory:
the fingerprint of an item is sha256(content sha256, task, params, engine name, engine version);
``<out>/_cas/<fp>.json`` holds the result for a fingerprint, and ``<out>/<source key>.json`` (the
mirror) records the fingerprint it was made from. An item whose mirror already carries its
fingerprint, or whose fingerprint is in _cas, is skipped without OCR.

Crash safety: every step of an item is idempotent and ordered so that a crash anywhere repeats at
most that item's step. Job ids are an HMAC of (batch secret, retry round, item), so re-planning an
item after a crash finds the same job instead of making a second one. The cursor moves with the
item's registration in one Lua script (compare-and-set on the cursor), and an item is accounted
exactly once (HDEL from the in-flight hash inside the accounting script).
"""

from __future__ import annotations

import base64
import csv
import fnmatch
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import socket
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import redis

from shared.blobs import BlobNotFound, BlobStore, BlobStoreError, TooLarge
from shared.jobs import InputRef, Job, JobError, Status, iso_ms, now_ms
from shared.jobstore import JobStore
from shared.settings import Settings
from shared.tasks import TaskSpec

log = logging.getLogger("ocrq.backfill")

PREFIX = "ocrq:"
ACTIVE = f"{PREFIX}batches:active"
WAKE = f"{PREFIX}planner:wake"
LEDGER_SHARD_ROWS = 1000
MANIFEST_MAX_BYTES = 256 * 1024 * 1024
SWEEP_GRACE_MS = 3000  # a finished job the hook has not accounted for this long is the sweep's
LOCK_MS = 20_000
FINAL_BATCH = ("completed", "canceled")
NOT_RETRYABLE = {"duplicate_key", "invalid_key"}

Send = Callable[[str, str], None]  # (job_id, queue)


def new_batch_id() -> str:
    return "bat_" + secrets.token_urlsafe(16)


def bkey(batch_id: str, part: str = "") -> str:
    return f"{PREFIX}batch:{batch_id}" + (f":{part}" if part else "")


def tenant_batches(tenant: str) -> str:
    return f"{PREFIX}tenant:{tenant}:batches"


BULK_ENGINE = f"{PREFIX}engine:bulk"


def engine_key(name: str) -> str:
    return f"{PREFIX}engine:{name}:version"


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
    name = _s(r.get(BULK_ENGINE)) or default
    version = r.get(engine_key(name))
    return name, (_s(version) if version else None)


def fingerprint(sha256: str, spec: TaskSpec, engine: str, version: str) -> str:
    doc = json.dumps([sha256, spec.model_dump(mode="json"), engine, version], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


def join_key(prefix: str, key: str) -> str:
    return f"{prefix}{key}" if not prefix or prefix.endswith("/") else f"{prefix}/{key}"


def mirror_key(out_prefix: str, source_key: str) -> str:
    return join_key(out_prefix, source_key) + ".json"


def cas_key(out_prefix: str, fp: str) -> str:
    return join_key(out_prefix, f"_cas/{fp[:2]}/{fp}.json")


def ledger_key(out_prefix: str, batch_id: str, seq: int) -> str:
    return join_key(out_prefix, f"_ledger/{batch_id}/{seq:06d}.jsonl")


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))


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
    def load(cls, r: redis.Redis, batch_id: str) -> "Batch | None":
        raw = {_s(k): _s(v) for k, v in r.hgetall(bkey(batch_id)).items()}
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

    def job_id(self, item_id: str, round_: int) -> str:
        mac = hmac.new(self.secret.encode(), f"{self.id}|{round_}|{item_id}".encode(), hashlib.sha256).digest()
        return "job_" + base64.urlsafe_b64encode(mac[:20]).decode().rstrip("=")


def create_batch(r: redis.Redis, *, batch_id: str, tenant: str, spec: TaskSpec, src_bucket: str, src_prefix: str = "",
                 glob: str = "", manifest_bucket: str = "", manifest_key: str = "", total: int | None = None,
                 out_bucket: str, out_prefix: str, window: int, webhook_url: str = "") -> None:
    now = now_ms()
    fields = {
        "id": batch_id, "tenant": tenant, "status": "running", "spec": spec.model_dump_json(),
        "src_bucket": src_bucket, "src_prefix": src_prefix, "glob": glob,
        "manifest_bucket": manifest_bucket, "manifest_key": manifest_key,
        "out_bucket": out_bucket, "out_prefix": out_prefix, "webhook_url": webhook_url or "",
        "window": str(window), "secret": secrets.token_hex(16),
        "cursor": "", "listing_done": "0", "total": "" if total is None else str(total),
        "planned": "0", "succeeded": "0", "failed": "0", "skipped": "0", "canceled": "0",
        "created_at": str(now), "started_at": str(now), "finished_at": "", "ledger_seq": "0", "round": "0",
        "rate": "0", "rate_ts": str(now), "rate_done": "0",
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
#       item json, ledger row, failure field, failure json, count as planned (1/0), pop retry (1/0)
_ADVANCE = """
if ARGV[1] ~= '\\0' then
  local cur = redis.call('HGET', KEYS[1], 'cursor') or ''
  if cur ~= ARGV[1] then return 0 end
  redis.call('HSET', KEYS[1], 'cursor', ARGV[2])
end
if ARGV[10] == '1' then redis.call('LPOP', KEYS[5]) end
local kind = ARGV[3]
if kind == 'cursor' then return 1 end
if kind == 'queue' and redis.call('HGET', KEYS[1], 'status') == 'canceled' then return -1 end
if ARGV[9] == '1' then redis.call('HINCRBY', KEYS[1], 'planned', 1) end
if kind == 'queue' then
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
elseif kind == 'skip' then
  redis.call('HINCRBY', KEYS[1], 'skipped', 1)
  redis.call('RPUSH', KEYS[4], ARGV[6])
elseif kind == 'fail' then
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
  redis.call('RPUSH', KEYS[4], ARGV[6])
  redis.call('HSET', KEYS[3], ARGV[7], ARGV[8])
end
return 1
"""

# Account one finished job exactly once, and drop its job record (the output prefix has it now).
# KEYS: batch, inflight, failures, ledger, job hash, tenant job index, running zset, unsent zset
# ARGV: job id, counter, ledger row, failure field ("" = none), failure json
_ACCOUNT = """
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('RPUSH', KEYS[4], ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[5]) end
redis.call('DEL', KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
return 1
"""

# Drop the first n ledger rows once their shard is written; only if nobody flushed them first.
# KEYS: batch, ledger   ARGV: expected seq, n
_LEDGER_TRIM = """
if (redis.call('HGET', KEYS[1], 'ledger_seq') or '0') ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[2], tonumber(ARGV[2]), -1)
redis.call('HINCRBY', KEYS[1], 'ledger_seq', 1)
return 1
"""

# Hand retryable failures back to the planner. KEYS: batch, failures, retry  ARGV: fields...
_RETRY = """
local n = 0
for i = 1, #ARGV do
  local v = redis.call('HGET', KEYS[2], ARGV[i])
  if v then
    redis.call('RPUSH', KEYS[3], v)
    redis.call('HDEL', KEYS[2], ARGV[i])
    n = n + 1
  end
end
if n > 0 then
  redis.call('HINCRBY', KEYS[1], 'failed', -n)
  redis.call('HINCRBY', KEYS[1], 'round', 1)
  if redis.call('HGET', KEYS[1], 'status') == 'completed' then
    redis.call('HSET', KEYS[1], 'status', 'running', 'finished_at', '')
  end
end
return n
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Scripts:
    def __init__(self, r: redis.Redis) -> None:
        self.advance = r.register_script(_ADVANCE)
        self.account = r.register_script(_ACCOUNT)
        self.ledger_trim = r.register_script(_LEDGER_TRIM)
        self.retry = r.register_script(_RETRY)
        self.release = r.register_script(_RELEASE)


# ------------------------------------------------------------------------------------------ items
@dataclass
class Item:
    key: str
    line: int | None = None  # manifest line number (1-based), None for a prefix listing
    metadata: dict[str, Any] | None = None
    error: tuple[str, str] | None = None  # (code, message) known before any I/O (duplicate, bad line)

    @property
    def id(self) -> str:
        return f"line:{self.line}" if self.line is not None else self.key

    def to_json(self) -> str:
        return json.dumps({"key": self.key, "line": self.line, "metadata": self.metadata}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Item":
        d = json.loads(raw)
        return cls(d["key"], d.get("line"), d.get("metadata"))


def parse_manifest(data: bytes, name: str) -> list[Item]:
    """Keys of a JSONL (a JSON string, or an object with "key" and any metadata) or CSV (a "key" column)."""
    text = data.decode("utf-8-sig", errors="replace")
    items: list[Item] = []
    is_csv = name.lower().endswith(".csv") or (not name.lower().endswith((".jsonl", ".json", ".ndjson"))
                                              and text.lstrip()[:1] not in ("{", '"'))
    if is_csv:
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or "key" not in reader.fieldnames:
            raise ValueError("a CSV manifest needs a header row with a 'key' column")
        for n, row in enumerate(reader, start=2):
            key = (row.pop("key") or "").strip()
            meta = {k: v for k, v in row.items() if k}
            items.append(Item(key, n, meta or None, None if key else ("invalid_key", "empty key")))
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                items.append(Item(line.strip()[:200], n, None, ("invalid_manifest_line", "not valid JSON")))
                continue
            if isinstance(obj, str):
                items.append(Item(obj, n))
            elif isinstance(obj, dict) and isinstance(obj.get("key"), str):
                meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {k: v for k, v in obj.items() if k != "key"}
                items.append(Item(obj["key"], n, meta or None))
            else:
                items.append(Item(str(obj)[:200], n, None, ("invalid_manifest_line", "expected a key string or an object with 'key'")))
    seen: dict[str, int] = {}
    for it in items:
        if it.error:
            continue
        if len(json.dumps(it.metadata or {})) > 4096:
            it.error = ("metadata_too_large", "per-item metadata is over 4096 bytes of JSON")
        elif it.key in seen:
            it.error = ("duplicate_key", f"key already listed on line {seen[it.key]}")
        else:
            seen[it.key] = it.line or 0
    return items


class Source:
    """Items of a batch from a cursor on: a lazy prefix listing, or manifest lines by index."""

    def __init__(self, blobs: BlobStore, batch: Batch) -> None:
        self.blobs, self.batch = blobs, batch
        self._manifest: list[Item] | None = None

    def manifest(self) -> list[Item]:
        if self._manifest is None:
            b = self.batch
            data = self.blobs.get(b.manifest_key, bucket=b.manifest_bucket, max_bytes=MANIFEST_MAX_BYTES)
            self._manifest = parse_manifest(data, b.manifest_key)
        return self._manifest

    def items(self, cursor: str) -> Iterator[tuple[str, Item | None]]:
        """(cursor after this entry, the item or None when filtered out)."""
        b = self.batch
        if b.manifest_key:
            items = self.manifest()
            for i in range(int(cursor or 0), len(items)):
                yield str(i + 1), items[i]
            return
        skip_out = b.out_bucket == b.src_bucket and b.out_prefix
        for info in self.blobs.list(b.src_prefix, bucket=b.src_bucket, start_after=cursor):
            if skip_out and info.key.startswith(b.out_prefix):
                yield info.key, None  # never backfill our own outputs
            elif b.glob and not fnmatch.fnmatchcase(info.key, b.glob) and not fnmatch.fnmatchcase(info.key.rsplit("/", 1)[-1], b.glob):
                yield info.key, None
            else:
                yield info.key, Item(info.key)


# ------------------------------------------------------------------------------ image header only
def probe_image(data: bytes, settings: Settings) -> tuple[str, int, int]:
    """(content type, width, height) from the header alone; the worker does the full decode."""
    from PIL import Image

    from shared.images import CONTENT_TYPES, ImageRejected

    if not data:
        raise ImageRejected("empty_file", "the object is empty", 400)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data), formats=list(settings.allowed_formats))
    except Image.UnidentifiedImageError:
        allowed = ", ".join(f.lower() for f in settings.allowed_formats)
        raise ImageRejected("unsupported_media_type", f"not a supported image (allowed: {allowed})", 415) from None
    except Exception as err:
        raise ImageRejected("invalid_image", f"the image header cannot be read: {err}", 422) from None
    w, h = im.size
    if w * h > settings.max_pixels:
        raise ImageRejected("too_many_pixels", f"the image has {w}x{h} pixels, over the limit of {settings.max_pixels}", 413)
    return CONTENT_TYPES.get(im.format or "", "application/octet-stream"), w, h


# ------------------------------------------------------------------------------------- the verdict
@dataclass
class Verdict:
    kind: str  # run | skip | fail
    item: Item
    sha256: str = ""
    code: str = ""
    message: str = ""
    input: InputRef | None = None
    fp: str = ""


class Transient(Exception):
    """Storage is unavailable: stop this tick, try again on the next."""


def classify(blobs: BlobStore, settings: Settings, batch: Batch, item: Item, engine: tuple[str, str | None],
             *, write_mirror: bool) -> Verdict:
    """Decide what an item needs: run (no result yet), skip (a result exists) or fail (with why)."""
    from shared.images import ImageRejected

    if item.error:
        return Verdict("fail", item, code=item.error[0], message=item.error[1])
    try:
        data = blobs.get(item.key, bucket=batch.src_bucket, max_bytes=settings.max_upload_bytes)
    except ValueError as err:
        return Verdict("fail", item, code="invalid_key", message=str(err))
    except BlobNotFound:
        return Verdict("fail", item, code="input_missing", message=f"no object {item.key!r} in bucket {batch.src_bucket!r}")
    except TooLarge as err:
        return Verdict("fail", item, code="input_too_large", message=str(err))
    except BlobStoreError as err:
        raise Transient(str(err)) from err
    sha = hashlib.sha256(data).hexdigest()
    try:
        ctype, w, h = probe_image(data, settings)
    except ImageRejected as err:
        return Verdict("fail", item, sha256=sha, code=err.code, message=err.message)
    ref = InputRef(bucket=batch.src_bucket, key=item.key, sha256=sha, bytes=len(data), content_type=ctype, width=w, height=h)
    name, version = engine
    if version is None:
        return Verdict("run", item, sha256=sha, input=ref)
    fp = fingerprint(sha, batch.spec, name, version)
    mkey = mirror_key(batch.out_prefix, item.key)
    try:
        try:
            mirror = json.loads(blobs.get(mkey, bucket=batch.out_bucket))
            if (mirror.get("ocrq") or {}).get("fingerprint") == fp:
                return Verdict("skip", item, sha256=sha, input=ref, fp=fp)
        except (BlobNotFound, ValueError):
            pass
        ckey = cas_key(batch.out_prefix, fp)
        if blobs.stat(ckey, bucket=batch.out_bucket) is not None:
            if write_mirror:
                result = json.loads(blobs.get(ckey, bucket=batch.out_bucket))
                write_outputs(blobs, batch, item, ref, fp, result, job_id=None, cas=False)
            return Verdict("skip", item, sha256=sha, input=ref, fp=fp)
    except BlobStoreError as err:
        raise Transient(str(err)) from err
    return Verdict("run", item, sha256=sha, input=ref, fp=fp)


def write_outputs(blobs: BlobStore, batch: Batch, item: Item, ref: InputRef, fp: str, result: dict[str, Any],
                  *, job_id: str | None, cas: bool = True) -> str:
    """The content-addressed result (dedup) first, then the mirror next to the source key."""
    result = {k: v for k, v in result.items() if k not in ("source", "ocrq", "metadata")}
    if cas:
        blobs.put(cas_key(batch.out_prefix, fp), json.dumps(result).encode(), "application/json", bucket=batch.out_bucket)
    doc = {
        **result,
        "source": {"bucket": ref.bucket, "key": ref.key, "sha256": ref.sha256},
        "metadata": item.metadata or {},
        "ocrq": {"fingerprint": fp, "batch_id": batch.id, "job_id": job_id},
    }
    mkey = mirror_key(batch.out_prefix, item.key)
    blobs.put(mkey, json.dumps(doc, ensure_ascii=False).encode(), "application/json", bucket=batch.out_bucket)
    return mkey


def ledger_row(batch: Batch, item: Item, status: str, *, sha256: str = "", error: dict[str, str] | None = None,
               job_id: str | None = None) -> str:
    row: dict[str, Any] = {"key": item.key, "sha256": sha256 or None, "status": status,
                           "result": f"{batch.out_bucket}/{mirror_key(batch.out_prefix, item.key)}" if status in ("succeeded", "skipped") else None,
                           "error": error, "job_id": job_id, "at": now_ms()}
    if item.line is not None:
        row["line"] = item.line
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)


def failure_json(item: Item, code: str, message: str, sha256: str = "") -> str:
    return json.dumps({"key": item.key, "line": item.line, "metadata": item.metadata, "code": code, "message": message,
                       "sha256": sha256 or None, "retryable": code not in NOT_RETRYABLE, "at": now_ms()}, separators=(",", ":"))


# ------------------------------------------------------------------------------- finishing an item
class Accountant:
    """Turns a finished job into outputs, a ledger row and counters; shared by the hook and the sweep."""

    def __init__(self, settings: Settings, store: JobStore, blobs: BlobStore | None = None) -> None:
        self.settings, self.store, self.r = settings, store, store.r
        self._blobs = blobs
        self.scripts = Scripts(store.r)
        self._batches: dict[str, Batch] = {}

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            from shared.blobs import open_blob_store

            self._blobs = open_blob_store(self.settings)
        return self._blobs

    def batch(self, batch_id: str) -> Batch | None:
        b = self._batches.get(batch_id)
        if b is None:
            b = Batch.load(self.r, batch_id)
            if b is not None:
                if len(self._batches) > 256:
                    self._batches.clear()
                self._batches[batch_id] = b
        return b

    def finish(self, job: Job) -> bool:
        """Account a terminal job of a batch; False when it is not (yet) in the in-flight set."""
        if not job.batch_id or not job.terminal:
            return False
        raw = self.r.hget(bkey(job.batch_id, "inflight"), job.id)
        if raw is None:
            return False  # already accounted, or the planner has not registered it yet (the sweep will)
        b = self.batch(job.batch_id)
        if b is None:
            return False
        item = Item.from_json(raw)
        fail_field, fail_doc, error = "", "", None
        if job.status == Status.succeeded and job.result_key:
            try:
                result = json.loads(self.blobs.get(job.result_key))
            except BlobNotFound:
                result = None
            if result is None:
                status, error = "failed", {"code": "result_missing", "message": "the job's result object is gone"}
            else:
                eng = result.get("engine") or {}
                fp = fingerprint(job.input.sha256, job.spec, eng.get("name", ""), eng.get("version", ""))
                write_outputs(self.blobs, b, item, job.input, fp, result, job_id=job.id)
                status = "succeeded"
        elif job.status == Status.canceled:
            status = "canceled"
        else:
            e = job.error or JobError(code="failed", message="the job failed")
            status, error = "failed", {"code": e.code, "message": e.message}
        if error:
            fail_field, fail_doc = item.id, failure_json(item, error["code"], error["message"], job.input.sha256)
        row = ledger_row(b, item, status, sha256=job.input.sha256, error=error, job_id=job.id)
        keys = [bkey(b.id), bkey(b.id, "inflight"), bkey(b.id, "failures"), bkey(b.id, "ledger"),
                JobStore.key(job.id), JobStore.tenant_index(job.tenant), JobStore.RUNNING, JobStore.UNSENT]
        done = bool(self.scripts.account(keys=keys, args=[job.id, status, row, fail_field, fail_doc]))
        if done and job.result_key and status == "succeeded":
            try:  # the mirror is the result now; the per-job copy would only be an orphan
                self.blobs.delete(job.result_key)
            except Exception:
                pass
        return done


def batch_hook(settings: Settings, store: JobStore, celery: Any = None) -> Callable[[Job], None]:
    """The runner's finished hook: account the item, then nudge a planner to refill the window."""
    acct = Accountant(settings, store)

    def hook(job: Job) -> None:
        if not job.batch_id:
            return
        try:
            acct.finish(job)
        finally:
            pipe = store.r.pipeline(transaction=False)
            pipe.lpush(WAKE, job.batch_id)
            pipe.ltrim(WAKE, 0, 999)
            pipe.execute()

    return hook


# -------------------------------------------------------------------------------------- the planner
class Planner:
    """Keeps each active batch's window full, sweeps what hooks missed, writes ledger shards.

    Any number of planners may run (a thread in each webhook worker, or `ocrq planner`); a short
    per-batch lock and the cursor compare-and-set keep them from planning an item twice.
    """

    def __init__(self, settings: Settings, r: redis.Redis, blobs: BlobStore, send: Send,
                 name: str | None = None) -> None:
        self.settings, self.r, self.blobs, self.send = settings, r, blobs, send
        self.store = JobStore(r, settings.retention_s)
        self.scripts = Scripts(r)
        self.acct = Accountant(settings, self.store, blobs)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._sources: dict[str, tuple[str, Iterator[tuple[str, Item | None]], Source]] = {}
        self._last_sweep: dict[str, float] = {}
        self._rr = 0

    def engine(self) -> tuple[str, str | None]:
        return bulk_engine(self.r, self.settings.engine)

    # one pass over every active batch, starting at a rotating offset (round-robin refill)
    def tick_all(self) -> int:
        ids = sorted(_s(x) for x in self.r.smembers(ACTIVE))
        if not ids:
            return 0
        self._rr = (self._rr + 1) % len(ids)
        work = 0
        for bid in ids[self._rr:] + ids[: self._rr]:
            try:
                work += self.tick(bid)
            except Exception:
                log.exception("planner tick failed for %s", bid)
        return work

    def tick(self, batch_id: str) -> int:
        lock, token = bkey(batch_id, "lock"), self.name
        if not self.r.set(lock, token, nx=True, px=LOCK_MS):
            holder = _s(self.r.get(lock))
            # A planner on this host that was killed leaves its lock: take it over at once.
            from workers.runner import owner_is_dead

            if not owner_is_dead(holder.rsplit(":", 1)[0]) or not self.scripts.release(keys=[lock], args=[holder]):
                return 0
            if not self.r.set(lock, token, nx=True, px=LOCK_MS):
                return 0
        try:
            return self._tick(batch_id)
        finally:
            self.scripts.release(keys=[lock], args=[token])

    def _tick(self, batch_id: str) -> int:
        b = Batch.load(self.r, batch_id)
        if b is None or b.status == "completed":
            self.r.srem(ACTIVE, batch_id)
            self._sources.pop(batch_id, None)
            return 0
        self._sweep(b)
        work = 0
        engine = self.engine()
        # No worker has said which engine it runs yet: planning now would queue items that a
        # rerun could never recognise as done, so wait (nothing would run them anyway).
        if b.status == "running" and engine[1] is not None:
            try:
                work += self._fill(b, engine)
            except Transient as err:
                log.warning("batch %s: storage unavailable, retrying: %s", b.id, err)
                self._sources.pop(b.id, None)
        b = Batch.load(self.r, batch_id) or b
        self._update_rate(b)
        self._flush_ledger(b, final=False)
        self._maybe_complete(b)
        return work

    def _fill(self, b: Batch, engine: tuple[str, str | None]) -> int:
        inflight = self.r.hlen(bkey(b.id, "inflight"))
        room = min(b.window - inflight, self.settings.tenant_batch_window - self._tenant_inflight(b.tenant))
        work = 0
        rnd = b.n("round")
        # retried failures first: they were planned once already
        while room > 0:
            raw = self.r.lindex(bkey(b.id, "retry"), 0)
            if raw is None:
                break
            item = Item.from_json(raw)
            self._plan(b, item, engine, rnd, expected="\0", new_cursor="", count=False, pop_retry=True)
            room -= 1
            work += 1
        if b.listing_done:
            return work
        cursor = b.cursor
        cached = self._sources.get(b.id)
        if cached is None or cached[0] != cursor:
            src = cached[2] if cached else Source(self.blobs, b)
            it = src.items(cursor)
        else:
            src, it = cached[2], cached[1]
        self._sources.pop(b.id, None)
        stored = cursor  # what Redis holds; filtered keys only move our local cursor
        budget = 10_000  # entries looked at per tick (glob-filtered ones included), so a tick ends
        try:
            while room > 0 and budget > 0:
                budget -= 1
                try:
                    nxt, item = next(it)
                except StopIteration:
                    self._advance_cursor(b, stored, cursor)
                    self.r.hset(bkey(b.id), mapping={"listing_done": "1"})
                    return work
                except (BlobStoreError, BlobNotFound) as err:
                    raise Transient(str(err)) from err
                if item is None:
                    cursor = nxt
                    continue
                res = self._plan(b, item, engine, rnd, expected=stored, new_cursor=nxt, count=True, pop_retry=False)
                if res == 0:  # another planner moved the cursor: start over from Redis next tick
                    return work
                cursor = stored = nxt
                work += 1
                if res == 1 and self._last_kind == "queue":
                    room -= 1
                if res == -1:
                    return work
            if stored != cursor:
                if self._advance_cursor(b, stored, cursor):
                    stored = cursor
            self._sources[b.id] = (stored, it, src)
        except Transient:
            raise
        return work

    def _tenant_inflight(self, tenant: str) -> int:
        ids = [_s(x) for x in self.r.smembers(ACTIVE)]
        pipe = self.r.pipeline(transaction=False)
        for bid in ids:
            pipe.hget(bkey(bid), "tenant")
            pipe.hlen(bkey(bid, "inflight"))
        res = pipe.execute()
        return sum(int(n) for t, n in zip(res[::2], res[1::2]) if _s(t) == tenant)

    def _advance_cursor(self, b: Batch, expected: str, new: str) -> bool:
        if expected == new:
            return True
        keys = [bkey(b.id), bkey(b.id, "inflight"), bkey(b.id, "failures"), bkey(b.id, "ledger"), bkey(b.id, "retry")]
        return bool(self.scripts.advance(keys=keys, args=[expected, new, "cursor", "", "", "", "", "", "0", "0"]))

    _last_kind = ""

    def _plan(self, b: Batch, item: Item, engine: tuple[str, str | None], rnd: int, *, expected: str, new_cursor: str,
              count: bool, pop_retry: bool) -> int:
        v = classify(self.blobs, self.settings, b, item, engine, write_mirror=True)
        keys = [bkey(b.id), bkey(b.id, "inflight"), bkey(b.id, "failures"), bkey(b.id, "ledger"), bkey(b.id, "retry")]
        flags = ["1" if count else "0", "1" if pop_retry else "0"]
        self._last_kind = {"run": "queue", "skip": "skip", "fail": "fail"}[v.kind]
        if v.kind == "skip":
            row = ledger_row(b, item, "skipped", sha256=v.sha256)
            return int(self.scripts.advance(keys=keys, args=[expected, new_cursor, "skip", "", "", row, "", "", *flags]))
        if v.kind == "fail":
            err = {"code": v.code, "message": v.message}
            row = ledger_row(b, item, "failed", sha256=v.sha256, error=err)
            return int(self.scripts.advance(keys=keys, args=[expected, new_cursor, "fail", "", "", row, item.id,
                                                             failure_json(item, v.code, v.message, v.sha256), *flags]))
        assert v.input is not None
        job_id = b.job_id(item.id, rnd)
        job = self.store.get(job_id)
        if job is None:
            job = Job(id=job_id, tenant=b.tenant, spec=b.spec, priority="bulk", input=v.input,
                      metadata=item.metadata or {}, batch_id=b.id)
            self.store.create(job)  # on the 'unsent' list until mark_sent: the reaper covers a crash here
        res = int(self.scripts.advance(keys=keys, args=[expected, new_cursor, "queue", job_id, item.to_json(), "", "", "", *flags]))
        if res == 1:
            if not job.terminal:
                self.send(job_id, "bulk")
            self.store.mark_sent(job_id)
        elif res == -1:  # canceled meanwhile
            self.store.cancel(job_id)
            self.store.delete(job)
        return res

    def _sweep(self, b: Batch) -> None:
        """Account finished jobs whose hook never ran (worker died between finishing and the hook)."""
        now = time.monotonic()
        if now - self._last_sweep.get(b.id, 0) < 2.0:
            return
        self._last_sweep[b.id] = now
        ids = [_s(j) for j in self.r.hkeys(bkey(b.id, "inflight"))]
        if not ids:
            return
        pipe = self.r.pipeline(transaction=False)
        for j in ids:
            pipe.hmget(JobStore.key(j), ["status", "finished_at"])
        cutoff = now_ms() - SWEEP_GRACE_MS
        for j, (status, finished) in zip(ids, pipe.execute()):
            if status is None:
                item = self.r.hget(bkey(b.id, "inflight"), j)
                if item is None:
                    continue
                it = Item.from_json(item)
                row = ledger_row(b, it, "failed", error={"code": "job_lost", "message": "the job record disappeared"})
                keys = [bkey(b.id), bkey(b.id, "inflight"), bkey(b.id, "failures"), bkey(b.id, "ledger"),
                        JobStore.key(j), JobStore.tenant_index(b.tenant), JobStore.RUNNING, JobStore.UNSENT]
                self.scripts.account(keys=keys, args=[j, "failed", row, it.id, failure_json(it, "job_lost", "the job record disappeared")])
                continue
            st = json.loads(status)
            fin = json.loads(finished) if finished else None
            if st in ("succeeded", "failed", "canceled") and (fin or 0) <= cutoff:
                job = self.store.get(j)
                if job is not None:
                    try:
                        self.acct.finish(job)
                    except BlobStoreError as err:
                        log.warning("sweep of %s deferred: %s", j, err)

    def _update_rate(self, b: Batch) -> None:
        now = now_ms()
        ts = int(b.raw.get("rate_ts") or now)
        if now - ts < 2000:
            return
        done = sum(b.n(k) for k in ("succeeded", "failed", "skipped", "canceled"))
        inst = (done - b.n("rate_done")) * 1000 / (now - ts)
        prev = float(b.raw.get("rate") or 0)
        rate = inst if prev == 0 else 0.5 * prev + 0.5 * inst
        self.r.hset(bkey(b.id), mapping={"rate": f"{rate:.4f}", "rate_ts": str(now), "rate_done": str(done)})

    def _flush_ledger(self, b: Batch, *, final: bool) -> None:
        lkey = bkey(b.id, "ledger")
        for _ in range(100):  # bounded per tick
            n = self.r.llen(lkey)
            if n == 0 or (n < LEDGER_SHARD_ROWS and not final):
                return
            take = min(n, LEDGER_SHARD_ROWS)
            seq = int(self.r.hget(bkey(b.id), "ledger_seq") or 0)
            rows = [_s(x) for x in self.r.lrange(lkey, 0, take - 1)]
            self.blobs.put(ledger_key(b.out_prefix, b.id, seq), ("\n".join(rows) + "\n").encode(), "application/x-ndjson",
                           bucket=b.out_bucket)
            if not self.scripts.ledger_trim(keys=[bkey(b.id), lkey], args=[str(seq), str(take)]):
                return

    def _maybe_complete(self, b: Batch) -> None:
        if b.status not in ("running", "canceled"):
            return
        if b.status == "running" and not b.listing_done:
            return
        if self.r.hlen(bkey(b.id, "inflight")) or (b.status == "running" and self.r.llen(bkey(b.id, "retry"))):
            return
        self._flush_ledger(b, final=True)
        final = "completed" if b.status == "running" else "canceled"
        if b.status == "canceled" and b.raw.get("finished_at"):
            self.r.srem(ACTIVE, b.id)
            return
        fields = {"status": final, "finished_at": str(now_ms())}
        if b.status == "running" and not b.manifest_key:
            fields["total"] = str(b.n("planned"))
        if final == "completed":
            # The event goes into the outbox *before* the status flips: a planner that dies in
            # between completes the batch again on its next tick, and emitting is idempotent.
            self._emit_completed(b, fields)
        self.r.hset(bkey(b.id), mapping=fields)
        self.r.srem(ACTIVE, b.id)
        self._sources.pop(b.id, None)
        log.info("batch %s %s", b.id, final)

    def _emit_completed(self, b: Batch, final_fields: dict[str, str]) -> None:
        """``batch.completed`` through the webhook outbox: to the tenant's subscribed endpoints and to
        the batch's own webhook_url (signed with the tenant's default secret, like a job's)."""
        from workers.webhooks.endpoints import JOB_TARGET
        from workers.webhooks.outbox import Outbox, emit_batch_completed

        try:
            fresh = Batch.load(self.r, b.id) or b
            fresh.raw.update(final_fields)
            fresh.status = final_fields["status"]
            outbox = Outbox(self.r, self.settings)
            finished = int(final_fields["finished_at"])
            msg_id = emit_batch_completed(outbox, b.tenant, b.id, finished, batch_view(self.r, fresh))
            if b.webhook_url and not any(d.get("ep") == JOB_TARGET for d in outbox.deliveries_of(msg_id)):
                outbox.endpoints.ensure_default_secret(b.tenant)
                outbox.requeue(msg_id, JOB_TARGET, b.webhook_url)  # due now: the scheduler loop sends it
        except Exception:  # the batch still completes; the event can be replayed from the outbox API
            log.exception("batch.completed event for %s not written", b.id)

    # the loop -----------------------------------------------------------------------------
    def run(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                work = self.tick_all()
                if work:
                    continue  # more to plan: go again at once
                self.r.blpop([WAKE], timeout=max(1, int(interval_s)))
                self.r.delete(WAKE)
            except redis.RedisError as err:
                log.warning("planner: redis unavailable: %s", err)
                stop.wait(interval_s)


# ------------------------------------------------------------------------------------ read models
def batch_view(r: redis.Redis, b: Batch) -> dict[str, Any]:
    inflight = [_s(j) for j in r.hkeys(bkey(b.id, "inflight"))]
    queued = running = 0
    if inflight:
        pipe = r.pipeline(transaction=False)
        for j in inflight:
            pipe.hget(JobStore.key(j), "status")
        for st in pipe.execute():
            s = json.loads(st) if st else None
            if s == "running":
                running += 1
            elif s == "queued":
                queued += 1
    counts = {"planned": b.n("planned"), "queued": queued, "running": running, "succeeded": b.n("succeeded"),
              "failed": b.n("failed"), "skipped": b.n("skipped"), "canceled": b.n("canceled")}
    done = counts["succeeded"] + counts["failed"] + counts["skipped"] + counts["canceled"]
    total = int(b.raw["total"]) if b.raw.get("total") else None
    if total is None and b.listing_done:  # a prefix's size is known once its listing has ended
        total = counts["planned"]
    started = int(b.raw.get("started_at") or 0)
    finished = int(b.raw["finished_at"]) if b.raw.get("finished_at") else None
    elapsed = max(0.001, ((finished or now_ms()) - started) / 1000)
    rate = float(b.raw.get("rate") or 0) if not finished else done / elapsed
    eta = None
    if total is not None and b.status == "running":
        eta = round((total - done) / rate, 1) if rate > 0 else None
    return {
        "id": b.id, "status": b.status, "task": b.spec.task, "params": b.spec.params(),
        "source": {"bucket": b.src_bucket, **({"manifest": b.manifest_key} if b.manifest_key else {"prefix": b.src_prefix}),
                   **({"glob": b.glob} if b.glob else {})},
        "output": {"bucket": b.out_bucket, "prefix": b.out_prefix,
                   "ledger": join_key(b.out_prefix, f"_ledger/{b.id}/")},
        "window": b.window, "counts": counts, "done": done, "total": total, "listing_done": b.listing_done,
        "throughput_items_per_s": round(rate, 3), "average_items_per_s": round(done / elapsed, 3), "eta_s": eta,
        "created_at": iso_ms(int(b.raw["created_at"]) if b.raw.get("created_at") else None), "finished_at": iso_ms(finished),
        "webhook_url": b.webhook_url or None,
        "links": {"self": f"/v1/batches/{b.id}", "failures": f"/v1/batches/{b.id}/failures"},
    }


def cancel_batch(r: redis.Redis, store: JobStore, b: Batch) -> None:
    if b.status in FINAL_BATCH:
        return
    r.hset(bkey(b.id), "status", "canceled")
    for j in r.hkeys(bkey(b.id, "inflight")):
        store.cancel(_s(j))  # queued ones stop here; running ones finish and are accounted
    r.sadd(ACTIVE, b.id)
    r.lpush(WAKE, b.id)


def retry_failed(r: redis.Redis, b: Batch, limit: int = 100_000) -> int:
    scripts = Scripts(r)
    fkey = bkey(b.id, "failures")
    n, cursor = 0, 0
    for _ in range(10_000):
        cursor, chunk = r.hscan(fkey, cursor, count=500)
        fields = [_s(k) for k, v in chunk.items() if json.loads(v).get("retryable", True)]
        if fields:
            n += int(scripts.retry(keys=[bkey(b.id), fkey, bkey(b.id, "retry")], args=fields))
        if cursor == 0 or n >= limit:
            break
    if n:
        r.sadd(ACTIVE, b.id)
        r.lpush(WAKE, b.id)
    return n


# ------------------------------------------------------------------------ the planner thread / CLI
_stop = threading.Event()
_thread: threading.Thread | None = None


def start_planner_thread(settings: Settings, send: Send) -> None:
    """The planner loop as a thread of its host process: the webhook worker (workers/webhook_app.py)."""
    global _thread
    if _thread is not None or not settings.batch_planner:
        return
    from shared.blobs import open_blob_store
    from shared.redis_client import connect

    planner = Planner(settings, connect(settings.redis_url), open_blob_store(settings), send)
    _stop.clear()
    _thread = threading.Thread(target=planner.run, args=(_stop,), name="ocrq-planner", daemon=True)
    _thread.start()
    log.info("batch planner started")


def stop_planner_thread() -> None:
    global _thread
    _stop.set()
    _thread = None
