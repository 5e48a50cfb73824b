"""What a batch reads: manifest items and the lazy prefix listing, and the input probe (image header,
or a PDF / multi-page TIFF checked as the gateway checks one: header, page count, encryption)."""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared.batches.model import MANIFEST_MAX_BYTES, Batch
from shared.infra.blobs import BlobStore
from shared.infra.settings import Settings
from shared.intake import jsonlimits


@dataclass
class Item:
    key: str
    line: int | None = None  # manifest line number (1-based), None for a prefix listing
    metadata: dict[str, Any] | None = None
    error: tuple[str, str] | None = None  # (code, message) known before any I/O (duplicate, bad line)
    pages: int | None = None  # pages counted in the batch's pages_total when planned (an image: 1)

    @property
    def id(self) -> str:
        return f"line:{self.line}" if self.line is not None else self.key

    def to_json(self) -> str:
        doc: dict[str, Any] = {"key": self.key, "line": self.line, "metadata": self.metadata}
        if self.pages is not None:
            doc["pages"] = self.pages
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Item:
        d = jsonlimits.loads(raw, what="an item")
        pages = d.get("pages")
        return cls(d["key"], d.get("line"), d.get("metadata"), pages=pages if isinstance(pages, int) else None)


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
            meta: dict[str, Any] | None = {k: v for k, v in row.items() if k}
            items.append(Item(key, n, meta or None, None if key else ("invalid_key", "empty key")))
    else:
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = jsonlimits.loads(line, what=f"manifest line {n}")
            except json.JSONDecodeError:
                items.append(Item(line.strip()[:200], n, None, ("invalid_manifest_line", "not valid JSON")))
                continue
            if isinstance(obj, str):
                items.append(Item(obj, n))
            elif isinstance(obj, dict) and isinstance(obj.get("key"), str):
                meta = (
                    obj.get("metadata")
                    if isinstance(obj.get("metadata"), dict)
                    else {k: v for k, v in obj.items() if k != "key"}
                )
                items.append(Item(obj["key"], n, meta or None))
            else:
                items.append(
                    Item(
                        str(obj)[:200],
                        n,
                        None,
                        ("invalid_manifest_line", "expected a key string or an object with 'key'"),
                    )
                )
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
            elif (
                b.glob
                and not fnmatch.fnmatchcase(info.key, b.glob)
                and not fnmatch.fnmatchcase(info.key.rsplit("/", 1)[-1], b.glob)
            ):
                yield info.key, None
            else:
                yield info.key, Item(info.key)


# ------------------------------------------------------------------------------------ input probe
@dataclass(frozen=True)
class Probe:
    content_type: str
    width: int  # 0 x 0 for a document: its pages are measured when rendered (as the gateway shows it)
    height: int
    pages_total: int | None = None  # a document's pages; None for an image

    @property
    def pages(self) -> int:
        return self.pages_total or 1


def probe_input(data: bytes, settings: Settings) -> Probe:
    """An image by its header, or a document checked as the gateway checks an upload (no rendering).

    Raises ImageRejected or a shared.intake.documents.DocumentError (each with the code and message the
    gateway would answer with): the item fails with that reason."""
    from shared.intake.documents import as_document

    doc = as_document(data, max_pages=settings.max_pages)
    if doc is not None:
        return Probe(doc.content_type, 0, 0, doc.pages_total)
    ctype, w, h = probe_image(data, settings)
    return Probe(ctype, w, h)


def probe_image(data: bytes, settings: Settings) -> tuple[str, int, int]:
    """(content type, width, height) from the header alone; the worker does the full decode."""
    from PIL import Image

    from shared.intake.images import CONTENT_TYPES, EmptyImage, InvalidImage, NotAnImage, TooManyPixels, check_shape

    if not data:
        raise EmptyImage("the object is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data), formats=list(settings.allowed_formats))
    except Image.UnidentifiedImageError:
        allowed = ", ".join(f.lower() for f in settings.allowed_formats)
        raise NotAnImage(f"not a supported image (allowed: {allowed})") from None
    except Exception as err:
        raise InvalidImage(f"the image header cannot be read: {err}") from None
    w, h = im.size
    check_shape(w, h, min_side=settings.min_side_px, max_aspect=settings.max_aspect)
    if w * h > settings.max_pixels:
        raise TooManyPixels(f"the image has {w}x{h} pixels, over the limit of {settings.max_pixels}")
    return CONTENT_TYPES.get(im.format or "", "application/octet-stream"), w, h
