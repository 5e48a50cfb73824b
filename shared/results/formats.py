"""The result formats: each one declared once, here, and read by everything that offers them.

A format is a name clients send (`GET /v1/jobs/{id}/result?format=`, a batch's `output_format`,
`ocrq submit --format`), the media type it is answered with, the file suffix it is saved under (a
batch's `<key>.<suffix>`, the gateway's `Content-Disposition`, the console's download, `ocrq -o`),
and a renderer from the stored result to bytes. The gateway's query and batch validation, the
OpenAPI document (enums, the result's media types), the CLI's choices and suffixes, the batch
outputs and the web console (through /console/config.json) all read :data:`FORMATS`, never a list
of their own.

Adding a format: write its renderer (shared/results/renderers.py holds the existing ones) and declare it with
:func:`register_format` below. Renderers import what they use when they run: the CLI reads this
registry on every start and must not pay for reportlab or Pillow.

json is the result document itself: the gateway answers it with the job's JSON and a batch writes
it as the item's mirror, so its renderer serves `ocrq ocr` (and anything else that wants the bytes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.errors import InvalidRequest

if TYPE_CHECKING:
    from shared.infra.blobs import BlobStore
    from shared.infra.settings import Settings
    from shared.jobs.model import Job


@dataclass(frozen=True)
class Rendering:
    """What a renderer gets: the job (its id, its stored input), the stored result document, and
    where the input can be read again (a searchable PDF draws the pages)."""

    job: Job
    result: Mapping[str, Any]
    blobs: BlobStore
    settings: Settings


Renderer = Callable[[Rendering], bytes]


@dataclass(frozen=True)
class ResultFormat:
    name: str  # what clients send: ?format=, output_format, --format
    media_type: str  # the answer's Content-Type
    suffix: str  # file suffix, without the dot: <job id>.<suffix>, a batch's <key>.<suffix>
    render: Renderer
    label: str  # for people: the console's download button, help texts
    description: str  # one phrase for the OpenAPI document and the CLI's help
    binary: bool = False  # never written to a terminal by the CLI; the gateway answers it as an attachment
    console: bool = True  # offered as a download in the web console
    other_suffixes: tuple[str, ...] = ()  # further suffixes `ocrq ... -o FILE` reads as this format

    @property
    def bare_media_type(self) -> str:
        return self.media_type.split(";")[0].strip()


FORMATS: dict[str, ResultFormat] = {}  # by name, in the order declared (the order clients see)


def register_format(fmt: ResultFormat) -> ResultFormat:
    if fmt.name in FORMATS:
        raise ValueError(f"result format {fmt.name!r} is declared twice")
    FORMATS[fmt.name] = fmt
    return fmt


def format_names() -> tuple[str, ...]:
    return tuple(FORMATS)


def choices_text() -> str:
    """`json, text, markdown, hocr, pdf`, for messages."""
    return ", ".join(FORMATS)


class InvalidFormat(InvalidRequest):
    """`format` is not one of the result formats."""

    code = "invalid_format"


def get_format(name: str | None) -> ResultFormat:
    """The format named (json when none is given), or InvalidFormat (400) naming the choices."""
    found = FORMATS.get(name or "json")
    if found is None:
        raise InvalidFormat(f"format must be one of {choices_text()}")
    return found


@dataclass(frozen=True)
class Exported:
    body: bytes
    media_type: str
    filename: str


def export_result(job: Job, result: Mapping[str, Any], fmt: str, *, blobs: BlobStore, settings: Settings) -> Exported:
    """`result` (the stored document) rendered in `fmt`, with its media type and file name."""
    found = get_format(fmt)
    body = found.render(Rendering(job, result, blobs, settings))
    return Exported(body, found.media_type, f"{job.id}.{found.suffix}")


# ------------------------------------------------------------------ the formats
def _json(r: Rendering) -> bytes:
    return (json.dumps(r.result, indent=2, ensure_ascii=False) + "\n").encode()


def _text(r: Rendering) -> bytes:
    from shared.results.renderers import to_text

    return to_text(r.result).encode()


def _markdown(r: Rendering) -> bytes:
    from shared.results.renderers import to_markdown

    return to_markdown(r.result).encode()


def _hocr(r: Rendering) -> bytes:
    from shared.results.renderers import to_hocr

    return to_hocr(r.result, title=f"ocrq {r.job.id}").encode()


def _pdf(r: Rendering) -> bytes:
    from shared.results.renderers import searchable_pdf

    return searchable_pdf(r.job, r.result, blobs=r.blobs, settings=r.settings)


register_format(ResultFormat(
    "json", "application/json", "json", _json, label="JSON", console=False,  # the console saves the whole job
    description="the result document (`pages` lists every page; `text` joins them with form feeds)"))
register_format(ResultFormat(
    "text", "text/plain; charset=utf-8", "txt", _text, label="Text file",
    description="plain text, pages separated by form feeds"))
register_format(ResultFormat(
    "markdown", "text/markdown; charset=utf-8", "md", _markdown, label="Markdown", console=False,  # shown rendered
    description="Markdown (a page without any gives its text), pages as separate blocks with a form feed between"))
register_format(ResultFormat(
    "hocr", "application/xhtml+xml; charset=utf-8", "hocr", _hocr, label="hOCR", other_suffixes=("html",),
    description="hOCR (XHTML, one ocr_page per page, ocr_line boxes)"))
register_format(ResultFormat(
    "pdf", "application/pdf", "pdf", _pdf, label="Searchable PDF", binary=True,
    description="a searchable PDF, each page's image with an invisible text layer on the line boxes"))
