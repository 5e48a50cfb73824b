"""A stored result in the format a client asks for: `GET /v1/jobs/{id}/result?format=...`.

json is the result document itself (the gateway answers it as before); text, markdown and hocr
are made from the result alone; pdf (a searchable PDF) also needs each page, from the stored input:
a PDF's own pages carry the text layer as they are (no rendering, exports.searchable_pdf_from_pdf),
unless a page is rotated or cropped; otherwise each page's image is made again one at a time (never
all in memory): TIFF frames and such PDF pages decoded or rendered, an image job's image decoded as
the worker decoded it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

from shared import exports
from shared.blobs import BlobStore
from shared.documents import DocumentError, render_page
from shared.errors import InvalidRequest
from shared.images import ImageRejected, decode_for_ocr
from shared.jobs.model import Job
from shared.settings import Settings

FORMATS = ("json", "text", "markdown", "hocr", "pdf")
MEDIA_TYPES = {
    "text": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "hocr": "application/xhtml+xml; charset=utf-8",
    "pdf": "application/pdf",
}
EXTENSIONS = {"text": "txt", "markdown": "md", "hocr": "hocr", "pdf": "pdf"}


class InvalidFormat(InvalidRequest):
    """`format` is not one of the result formats."""

    code = "invalid_format"


@dataclass(frozen=True)
class Exported:
    body: bytes
    media_type: str
    filename: str


def check_format(fmt: str | None) -> str:
    """The requested format (json when none is given), or InvalidRequest (400) naming the choices."""
    fmt = fmt or "json"
    if fmt not in FORMATS:
        raise InvalidFormat(f"format must be one of {', '.join(FORMATS)}")
    return fmt


def export_result(job: Job, result: Mapping[str, Any], fmt: str, *, blobs: BlobStore, settings: Settings) -> Exported:
    """`result` (the stored document) as text, markdown, hocr or pdf; json is not handled here."""
    if fmt == "text":
        body = exports.to_text(result).encode()
    elif fmt == "markdown":
        body = exports.to_markdown(result).encode()
    elif fmt == "hocr":
        body = exports.to_hocr(result, title=f"ocrq {job.id}").encode()
    elif fmt == "pdf":
        body = searchable_pdf(job, result, blobs=blobs, settings=settings)
    else:
        raise InvalidFormat(f"format must be one of {', '.join(FORMATS)}")
    return Exported(body, MEDIA_TYPES[fmt], f"{job.id}.{EXTENSIONS[fmt]}")


def searchable_pdf(job: Job, result: Mapping[str, Any], *, blobs: BlobStore, settings: Settings) -> bytes:
    if job.input.content_type == "application/pdf":
        data = blobs.get(job.input.key, bucket=job.input.bucket, max_bytes=settings.max_upload_bytes)
        numbers = [int(p["page"]) for p in exports.result_pages(result)]
        if not exports.needs_render(data, numbers):
            return exports.searchable_pdf_from_pdf(data, result)
    return exports.to_searchable_pdf(result, page_images(job, result, blobs=blobs, settings=settings))


def page_images(
    job: Job, result: Mapping[str, Any], *, blobs: BlobStore, settings: Settings
) -> Iterator[Image.Image | None]:
    """One image per result page, in order, read from the stored input; None for a page that failed
    (in the worker, or now): the searchable PDF keeps its place as an empty page."""
    data = blobs.get(job.input.key, bucket=job.input.bucket, max_bytes=settings.max_upload_bytes)
    pages = exports.result_pages(result)
    if job.pages_total is None:  # an image job: the one image, as the worker saw it (upright, bounded)
        try:
            yield decode_for_ocr(data, formats=settings.allowed_formats, max_pixels=settings.max_pixels,
                                 max_side=settings.max_side).image
        except ImageRejected:
            yield None
        return
    with tempfile.NamedTemporaryFile(prefix="ocrq-export-", suffix=".bin") as f:
        f.write(data)
        f.flush()
        del data
        for page in pages:
            if page.get("error"):
                yield None
                continue
            try:
                yield render_page(f.name, int(page["page"]), dpi=settings.pdf_dpi, max_side=settings.max_side,
                                  max_pixels=settings.max_pixels,
                                  time_limit_s=settings.page_render_time_limit_s).image
            except DocumentError:
                yield None
