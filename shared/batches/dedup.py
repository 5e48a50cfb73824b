"""Deciding an item (run, skip as already done, or fail) and writing its outputs (result, mirror, formats)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from shared.batches.model import Batch, cas_key, fingerprint, output_key
from shared.batches.sources import Item, probe_input
from shared.failures import is_time_limit
from shared.infra.blobs import BlobNotFound, BlobStore, BlobStoreError, ObjectTooLarge
from shared.infra.settings import Settings
from shared.jobs.model import InputRef, Job


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
    pages_total: int | None = None  # a document's pages (None: an image)

    @property
    def pages(self) -> int:
        """Pages this item counts in the batch's page counters: a document's pages, an image 1."""
        return self.pages_total or 1


class Transient(Exception):
    """Storage is unavailable: stop this tick, try again on the next."""


class OutputFailed(Exception):
    """An output format could not be made for an item (its source vanished, a render broke): the
    item fails with this reason (retryable), instead of staying in flight for ever."""

    code = "output_failed"

    def __init__(self, fmt: str, err: BaseException) -> None:
        first = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), "")
        what = "the source object is gone" if isinstance(err, BlobNotFound) else f"{type(err).__name__}: {first}"
        self.message = f"the {fmt} output could not be made: {what}"[:300]
        super().__init__(self.message)


def classify(blobs: BlobStore, settings: Settings, batch: Batch, item: Item, engine: tuple[str, str | None],
             *, write_mirror: bool) -> Verdict:
    """Decide what an item needs: run (no result yet), skip (a result exists) or fail (with why).

    A PDF or multi-page TIFF is one item (one job over its pages), checked as the gateway checks an
    upload; a document that will never render fails here with the gateway's code (encrypted_pdf,
    damaged_document, too_many_pages, ...)."""
    if item.error:
        return Verdict("fail", item, code=item.error[0], message=item.error[1])
    data = _read_source(blobs, settings, batch, item)
    if isinstance(data, Verdict):
        return data
    checked = _check_input(data, settings, batch, item)
    del data  # up to max_upload_bytes: not held while the outputs are read
    if isinstance(checked, Verdict):
        return checked
    ref, docs = checked
    name, version = engine
    if version is None:  # no worker has recorded its engine version: nothing can be known done
        return Verdict("run", item, sha256=ref.sha256, input=ref, pages_total=docs)
    fp = fingerprint(ref.sha256, batch.spec, name, version)
    return _against_outputs(blobs, settings, batch, item, ref, fp, docs, write_mirror=write_mirror)


def _read_source(blobs: BlobStore, settings: Settings, batch: Batch, item: Item) -> bytes | Verdict:
    """The item's bytes, or the verdict that fails it (a bad key, a missing or too large object).
    Storage that does not answer is Transient: the item is decided on a later tick."""
    try:
        return blobs.get(item.key, bucket=batch.src_bucket, max_bytes=settings.max_upload_bytes)
    except ValueError as err:
        return Verdict("fail", item, code="invalid_key", message=str(err))
    except BlobNotFound:
        return Verdict(
            "fail", item, code="input_missing", message=f"no object {item.key!r} in bucket {batch.src_bucket!r}"
        )
    except ObjectTooLarge as err:
        return Verdict("fail", item, code="input_too_large", message=str(err))
    except BlobStoreError as err:
        raise Transient(str(err)) from err


def _check_input(data: bytes, settings: Settings, batch: Batch, item: Item) -> tuple[InputRef, int | None] | Verdict:
    """The input as a job would reference it and a document's page count (None: an image), or the
    verdict that fails an image or document the gateway would refuse."""
    from shared.intake.documents import DocumentError
    from shared.intake.images import ImageRejected

    sha = hashlib.sha256(data).hexdigest()
    try:
        probe = probe_input(data, settings)
    except ImageRejected as err:
        return Verdict("fail", item, sha256=sha, code=err.code, message=err.message)
    except DocumentError as err:
        return Verdict("fail", item, sha256=sha, code=err.code, message=err.message)
    ref = InputRef(
        bucket=batch.src_bucket, key=item.key, sha256=sha, bytes=len(data), content_type=probe.content_type,
        width=probe.width, height=probe.height,
    )
    return ref, probe.pages_total


def _against_outputs(blobs: BlobStore, settings: Settings, batch: Batch, item: Item, ref: InputRef, fp: str,
                     docs: int | None, *, write_mirror: bool) -> Verdict:
    """Skip when the item's record already carries this fingerprint and every format the batch asks
    for, or when a content-addressed result exists (its outputs then made without OCR, when
    ``write_mirror``); run otherwise."""
    sha = ref.sha256
    try:
        record = _record(blobs, batch, item.key)
        if record.get("fingerprint") == fp and set(batch.output_formats) <= set(record.get("formats") or ["json"]):
            return Verdict("skip", item, sha256=sha, input=ref, fp=fp, pages_total=docs)
        ckey = cas_key(batch.out_prefix, fp)
        if blobs.stat(ckey, bucket=batch.out_bucket) is not None:
            # Done before (this key with other formats, or the same content under another key):
            # the outputs are made from the stored result, without OCR.
            if write_mirror:
                result = json.loads(blobs.get(ckey, bucket=batch.out_bucket))
                write_outputs(blobs, settings, batch, item, ref, fp, result, job_id=None, cas=False,
                              pages_total=docs)
            return Verdict("skip", item, sha256=sha, input=ref, fp=fp, pages_total=docs)
    except BlobStoreError as err:
        raise Transient(str(err)) from err
    except OutputFailed as err:
        return Verdict("fail", item, sha256=sha, code=err.code, message=err.message, pages_total=docs)
    return Verdict("run", item, sha256=sha, input=ref, fp=fp, pages_total=docs)


def _record(blobs: BlobStore, batch: Batch, source_key: str) -> dict[str, Any]:
    """The `ocrq` block (fingerprint, formats) of an item's record, {} when there is none."""
    try:
        doc = json.loads(blobs.get(batch.record_key(source_key), bucket=batch.out_bucket))
    except (BlobNotFound, ValueError):
        return {}
    block = doc.get("ocrq") if isinstance(doc, dict) else None
    return block if isinstance(block, dict) else {}


def write_outputs(
    blobs: BlobStore,
    settings: Settings,
    batch: Batch,
    item: Item,
    ref: InputRef,
    fp: str,
    result: dict[str, Any],
    *,
    job_id: str | None,
    cas: bool = True,
    pages_total: int | None = None,
) -> str:
    """The content-addressed result (dedup) first, then each output format the batch asks for
    (shared/results/formats.py, as `GET /v1/jobs/{id}/result?format=` renders it), and last the
    item's record: the JSON mirror next to the source key, or a `_done` record when json is not
    among the formats. The record is written last, so that its fingerprint means every output is there.

    `pages_total`: the input's pages when it is a document (its searchable PDF renders the pages again)."""
    from shared.results.formats import export_result

    result = {k: v for k, v in result.items() if k not in ("source", "ocrq", "metadata")}
    if cas:
        blobs.put(
            cas_key(batch.out_prefix, fp), json.dumps(result).encode(), "application/json", bucket=batch.out_bucket
        )
    formats = batch.output_formats
    source = {"bucket": ref.bucket, "key": ref.key, "sha256": ref.sha256}
    outputs: dict[str, str] = {}
    export_job = Job(id=job_id or batch.id, tenant=batch.tenant, input=ref, pages_total=pages_total)
    for fmt in formats:
        if fmt == "json":
            continue
        try:
            out = export_result(export_job, result, fmt, blobs=blobs, settings=settings)
        except BlobStoreError:
            raise  # storage is down: the whole step is tried again later
        except Exception as err:
            if is_time_limit(err):  # a renderer may wrap Celery's time limit
                raise
            raise OutputFailed(fmt, err) from err
        key = output_key(batch.out_prefix, item.key, fmt)
        blobs.put(key, out.body, out.media_type, bucket=batch.out_bucket)
        outputs[fmt] = key
    ocrq = {"fingerprint": fp, "batch_id": batch.id, "job_id": job_id, "formats": list(formats)}
    rkey = batch.record_key(item.key)
    if "json" in formats:
        doc = {**result, "source": source, "metadata": item.metadata or {}, "ocrq": ocrq}
    else:
        doc = {"source": source, "metadata": item.metadata or {}, "outputs": outputs, "ocrq": ocrq}
    blobs.put(rkey, json.dumps(doc, ensure_ascii=False).encode(), "application/json", bucket=batch.out_bucket)
    return rkey
