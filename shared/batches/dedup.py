"""Deciding an item (run, skip as already done, or fail) and writing its outputs (result, mirror)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from shared.batches.model import Batch, cas_key, fingerprint, mirror_key
from shared.batches.sources import Item, probe_image
from shared.blobs import BlobNotFound, BlobStore, BlobStoreError, TooLarge
from shared.jobs.model import InputRef
from shared.settings import Settings


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
        return Verdict(
            "fail", item, code="input_missing", message=f"no object {item.key!r} in bucket {batch.src_bucket!r}"
        )
    except TooLarge as err:
        return Verdict("fail", item, code="input_too_large", message=str(err))
    except BlobStoreError as err:
        raise Transient(str(err)) from err
    sha = hashlib.sha256(data).hexdigest()
    try:
        ctype, w, h = probe_image(data, settings)
    except ImageRejected as err:
        return Verdict("fail", item, sha256=sha, code=err.code, message=err.message)
    ref = InputRef(
        bucket=batch.src_bucket, key=item.key, sha256=sha, bytes=len(data), content_type=ctype, width=w, height=h
    )
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


def write_outputs(
    blobs: BlobStore,
    batch: Batch,
    item: Item,
    ref: InputRef,
    fp: str,
    result: dict[str, Any],
    *,
    job_id: str | None,
    cas: bool = True,
) -> str:
    """The content-addressed result (dedup) first, then the mirror next to the source key."""
    result = {k: v for k, v in result.items() if k not in ("source", "ocrq", "metadata")}
    if cas:
        blobs.put(
            cas_key(batch.out_prefix, fp), json.dumps(result).encode(), "application/json", bucket=batch.out_bucket
        )
    doc = {
        **result,
        "source": {"bucket": ref.bucket, "key": ref.key, "sha256": ref.sha256},
        "metadata": item.metadata or {},
        "ocrq": {"fingerprint": fp, "batch_id": batch.id, "job_id": job_id},
    }
    mkey = mirror_key(batch.out_prefix, item.key)
    blobs.put(mkey, json.dumps(doc, ensure_ascii=False).encode(), "application/json", bucket=batch.out_bucket)
    return mkey
