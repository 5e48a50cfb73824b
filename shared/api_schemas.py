"""Request and response models of the HTTP API; /openapi.json is generated from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.results import OcrResult
from shared.tasks import BarcodesOption, TaskName


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class SourceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str = Field(min_length=1, max_length=63)
    key: str = Field(min_length=1, max_length=1024)


class JobCreate(BaseModel):
    """JSON body of POST /v1/jobs for an object already in storage.

    Multipart uploads use form fields of the same names.
    """

    model_config = ConfigDict(extra="forbid")
    source: SourceRef
    task: TaskName = "text"
    fields: list[str] | None = Field(default=None, max_length=64)
    target_lang: Literal["en", "zh"] | None = None
    instruction: str | None = Field(default=None, max_length=2000)
    priority: Literal["interactive", "bulk"] = "interactive"
    webhook_url: str | None = Field(default=None, max_length=2048)
    metadata: dict[str, Any] = Field(default_factory=dict)
    barcodes: BarcodesOption = Field(default="auto", description="decode barcodes: auto (on for images), on, off")
    quality: Literal["check", "require"] | None = Field(
        default=None,
        description="check: the 202 and the job carry a rescan verdict; require: a rescan image is refused (422)",
    )
    pages: str | None = Field(default=None, max_length=1000, description='PDF/TIFF pages to read, e.g. "1-3,7"')


class InputOut(BaseModel):
    sha256: str
    bytes: int
    content_type: str
    width: int
    height: int


class ErrorOut(BaseModel):
    code: str
    message: str


class Links(BaseModel):
    self: str
    result: str
    image: str


class QualityOut(BaseModel):
    """The rescan verdict of quality=check (shared/quality.py): measures on 0..1 scales."""

    verdict: Literal["ok", "rescan"]
    reasons: list[str]  # too_dark, overexposed, blurred, glare, too_small; most severe first
    sharpness: float  # p99 of the contrast-stretched gradient: 1 sharp, under 0.65 blurred
    brightness: float  # median luminance
    glare_fraction: float  # share of the image in clipped patches on the paper


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "canceled"]
    task: str
    params: dict[str, Any]
    priority: str
    attempts: int
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    expires_at: str | None = None
    input: InputOut
    metadata: dict[str, Any]
    webhook_url: str | None = None
    batch_id: str | None = None
    error: ErrorOut | None = None
    needs_review: bool = False
    review_reasons: list[str] | None = None
    result: OcrResult | None = None
    links: Links
    # Documents only (absent on image jobs).
    pages_total: int | None = None
    pages: list[int] | None = None
    progress: dict[str, int] | None = None
    pages_failed: int | None = None
    # quality=check only (absent otherwise): the verdict the 202 answered, kept on the job.
    quality: QualityOut | None = None


class JobList(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = None


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)
