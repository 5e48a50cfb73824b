"""An engine's answer becomes the stored result: boxes in the original's pixels, barcodes, review
reasons, a document's pages joined. The worker and `ocrq ocr` build results with this one module."""

from __future__ import annotations

from typing import Any

from models.barcodes import DECODER_NAME, DECODER_VERSION, decode_barcodes
from models.base import Engine, EngineError, EngineOutput
from shared.intake.images import Decoded
from shared.intake.rendering import RenderedPage
from shared.jobs.task_spec import DECODER_TASKS
from shared.labels.review_reasons import review_reasons
from shared.results.model import EngineInfo, ImageSize, Line, OcrResult, PageError, PageResult, Timings
from shared.results.renderers import join_markdown, join_text


def engine_info(task: str, engine: Engine) -> EngineInfo:
    """What read the result: the barcode decoder for the barcodes task, whatever the worker's engine."""
    if task in DECODER_TASKS:
        return EngineInfo(name=DECODER_NAME, version=DECODER_VERSION)
    return EngineInfo(name=engine.name, version=engine.version)

def decoder_text(barcodes: list[dict[str, Any]]) -> str:
    """The text of a barcodes-task result (an image's, or a page's): each symbol's text, one a line."""
    return "\n".join(bc["text"] for bc in barcodes)

def make_result(
    task: str,
    out: EngineOutput,
    decoded: Decoded,
    engine: Engine,
    timings: Timings,
    *,
    barcodes: list[dict[str, Any]] | None = None,
) -> OcrResult:
    """The one place an engine's output becomes the stored result (the service and `ocrq ocr` share it)."""
    lines = [_scale_line(line, decoded) for line in out.lines]
    reasons = review_reasons(barcodes, lines, task=task, fields=out.fields, answer=out.text) if barcodes else []
    decoder_only = task in DECODER_TASKS
    return OcrResult(
        task=task,
        text=decoder_text(barcodes or []) if decoder_only else out.text,
        lines=lines,
        barcodes=barcodes,
        needs_review=bool(reasons),
        review_reasons=reasons or None,
        markdown=out.markdown,
        fields=out.fields,
        raw=out.raw,
        truncated=out.truncated,
        engine=engine_info(task, engine),
        image=ImageSize(width=decoded.width, height=decoded.height),
        timings=timings,
        pages=[page_result(1, out, decoded)],
    )

def page_result(
    number: int, out: EngineOutput | EngineError, decoded: Decoded, *, barcodes: list[dict[str, Any]] | None = None
) -> PageResult:
    """One entry of a result's `pages`: the engine's answer for one page (or image), boxes scaled
    to that page's pixels; an EngineError becomes the page's error."""
    width_pt = decoded.width_pt if isinstance(decoded, RenderedPage) and decoded.width_pt else None
    height_pt = decoded.height_pt if isinstance(decoded, RenderedPage) and decoded.height_pt else None
    if isinstance(out, EngineError):
        return PageResult(
            page=number,
            width=decoded.width,
            height=decoded.height,
            width_pt=width_pt,
            height_pt=height_pt,
            error=PageError(code=out.code, message=str(out)),
        )
    return PageResult(
        page=number,
        width=decoded.width,
        height=decoded.height,
        text=out.text,
        lines=[_scale_line(line, decoded) for line in out.lines],
        markdown=out.markdown,
        fields=out.fields,
        barcodes=barcodes,
        width_pt=width_pt,
        height_pt=height_pt,
        vision_tokens=out.vision_tokens,
        reduced_for_model=(out.resized_from is not None) if out.vision_tokens is not None else None,
    )

def make_document_result(task: str, pages: list[PageResult], engine: Engine, timings: Timings) -> OcrResult:
    """A document's one result: every page, `text` joined with form feeds (as pdftotext), and the
    first readable page's size as `image` (the field every result has)."""
    docs = [p.model_dump() for p in pages]
    first_ok = next(p for p in pages if p.error is None)
    reasons = ["pages_failed"] if any(p.error is not None for p in pages) else []
    for p in pages:
        if p.barcodes:
            page_reasons = review_reasons(p.barcodes, p.lines, task=task, fields=p.fields, answer=p.text)
            reasons += [r for r in page_reasons if r not in reasons]
    return OcrResult(
        task=task,
        text=join_text(docs),
        markdown=join_markdown(docs) if any(p.markdown for p in pages) else None,
        engine=engine_info(task, engine),
        image=ImageSize(width=first_ok.width, height=first_ok.height),
        timings=timings,
        pages=pages,
        pages_failed=sum(1 for p in pages if p.error is not None),
        needs_review=bool(reasons),
        review_reasons=reasons or None,
    )

def find_barcodes(d: Decoded, *, thorough: bool = True) -> list[dict[str, Any]]:
    """Every symbol in the decoded image, box and polygon in pixels of the upright original (as lines are)."""
    out = []
    for bc in decode_barcodes(d.image, thorough=thorough):
        x0, y0, x1, y1 = bc["box"]
        bc["box"] = [
            _px(x0, d.scale, d.width),
            _px(y0, d.scale, d.height),
            _px(x1, d.scale, d.width),
            _px(y1, d.scale, d.height),
        ]
        bc["polygon"] = [[_px(x, d.scale, d.width), _px(y, d.scale, d.height)] for x, y in bc["polygon"]]
        out.append(bc)
    return out

def _px(v: float, scale: float, limit: int) -> int:
    return max(0, min(limit, int(round(v * scale))))

def _scale_line(line: Line, d: Decoded) -> Line:
    s = d.scale

    def px(x: float, limit: int) -> int:
        return max(0, min(limit, int(round(x * s))))

    x0, y0, x1, y1 = line.box
    return Line(
        text=line.text,
        box=(px(x0, d.width), px(y0, d.height), px(x1, d.width), px(y1, d.height)),
        polygon=[(px(x, d.width), px(y, d.height)) for x, y in line.polygon] if line.polygon else None,
        confidence=line.confidence,
    )
