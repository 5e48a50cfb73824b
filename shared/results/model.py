"""The result document every engine produces, stored as JSON once per job."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Line(BaseModel):
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the upright original image
    polygon: list[tuple[int, int]] | None = None
    confidence: float | None = None


class EngineInfo(BaseModel):
    name: str
    version: str


class ImageSize(BaseModel):
    width: int
    height: int


class Timings(BaseModel):
    queued_ms: float = 0.0
    fetch_ms: float = 0.0
    infer_ms: float = 0.0
    total_ms: float = 0.0


class PageError(BaseModel):
    code: str
    message: str


class PageResult(BaseModel):
    """One page of a result: its own size, text and line boxes (in that page's pixels), or its error."""

    page: int  # 1-based page number in the input
    width: int
    height: int
    text: str = ""
    lines: list[Line] = Field(default_factory=list)
    markdown: str | None = None
    fields: dict[str, Any] | None = None
    barcodes: list[dict[str, Any]] | None = None  # documents: the symbols on this page (its pixels)
    error: PageError | None = None
    # VLM engines (HunyuanOCR): what this page cost the model, and whether the engine had to shrink it
    # further than the service's own bounds so it fit a decode slot (OCRQ_SLOT_LENGTH).
    vision_tokens: int | None = None
    reduced_for_model: bool | None = None
    # PDF inputs: the page size in points, so that a searchable PDF keeps the input's page size.
    width_pt: float | None = None
    height_pt: float | None = None


class OcrResult(BaseModel):
    task: str
    text: str
    lines: list[Line] = Field(default_factory=list)
    markdown: str | None = None
    fields: dict[str, Any] | None = None
    raw: str | None = None  # the model's own text, kept when it could not be parsed
    truncated: bool = False
    # Symbols found by models/barcodes.py, boxes in original pixels like lines; None: not decoded (barcodes=off).
    barcodes: list[dict[str, Any]] | None = None
    needs_review: bool = False
    # shared/labels/review_reasons.py REASON_ORDER codes (check_digit, ..., answer_mismatch)
    review_reasons: list[str] | None = None
    engine: EngineInfo
    image: ImageSize
    timings: Timings = Field(default_factory=Timings)
    # Every result lists its pages (an image: one); `text` is the pages' text joined by form feeds.
    pages: list[PageResult] | None = None
    pages_failed: int | None = None  # documents only
    # Set by GET /v1/jobs/{id}/result (null in the stored engine result): 1 the engine's, 2 a reviewer's correction;
    # reviewed: a person resolved the job's review and this is the revision they left (shared/reviews/).
    revision: int | None = None
    reviewed: bool | None = None
