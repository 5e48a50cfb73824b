"""/v1/jobs: the submit options (one description for the JSON body and the multipart upload), the
queries of the job routes, and the job document the API and webhook events show."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.api_schemas.common import (
    Boolean,
    Digits,
    Flag,
    IsoTimestamp,
    RegistryEnum,
    Upload,
    WholeNumber,
    deployment,
    off,
    refuse,
)
from shared.api_schemas.reviews import Floor, ReviewOut
from shared.intake import jsonlimits
from shared.jobs.task_spec import TASK_NAMES, BarcodesOption, TaskName
from shared.results.formats import FORMATS, choices_text, format_names
from shared.results.model import OcrResult

JobId = Annotated[str, Field(min_length=1, max_length=64, description="A job id (job_...)")]
JobStatus = Literal["queued", "running", "succeeded", "failed", "canceled"]
Priority = Literal["interactive", "bulk"]
METADATA_MAX_BYTES = 4096


def _known_task(value: Any) -> Any:
    if value not in TASK_NAMES:
        raise refuse("unknown_task", f"unknown task {value!r}; use one of: {', '.join(TASK_NAMES)}")
    return value


def _small_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > METADATA_MAX_BYTES:
        raise ValueError(f"at most {METADATA_MAX_BYTES} bytes of JSON")
    return value


Task = Annotated[
    TaskName,
    BeforeValidator(_known_task),
    Field(description="The tasks this deployment's engine can do", json_schema_extra=deployment("engine_tasks")),
]
Metadata = Annotated[dict[str, Any], AfterValidator(_small_metadata)]


# ------------------------------------------------------------------ submit
class SourceRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str = Field(min_length=1, max_length=63)
    key: str = Field(min_length=1, max_length=1024)


class JobOptions(BaseModel):
    """The options of POST /v1/jobs, the same for a JSON body and a multipart upload."""

    model_config = ConfigDict(extra="forbid")
    task: Task = "text"
    fields: list[str] | None = Field(
        default=None, max_length=64, description="task 'fields': the names to read (a form field: a JSON list or "
        "comma-separated names)")
    target_lang: Literal["en", "zh"] | None = None
    instruction: str | None = Field(default=None, max_length=2000)
    priority: Priority = "interactive"
    webhook_url: str | None = Field(default=None, max_length=2048)
    metadata: Metadata = Field(default_factory=dict, description=f"A JSON object (at most {METADATA_MAX_BYTES} "
                               "bytes), echoed back")
    barcodes: BarcodesOption = Field(default="auto", description="decode barcodes beside the task: auto (on for "
                                     "images), on, off")
    quality: Literal["check", "require"] | None = Field(
        default=None,
        description="check: the 202 carries `quality` {verdict, reasons, sharpness, brightness, glare_fraction}, and "
        "so does the job (GET /v1/jobs/{id}, webhooks); require: a photo to retake is refused (422 rescan_needed), "
        "an accepted one is kept with its verdict",
    )
    pages: str | None = Field(default=None, max_length=1000, description='PDF or multi-page TIFF: the pages to '
                              'read, 1-based, e.g. "1-3,7" (default: all)')
    review: Literal["auto", "always", "off"] = Field(
        default="auto", description="human review: auto (a job with a review reason opens one), always, off")
    review_below: Floor | None = Field(
        default=None, description="confidence floor: a line or symbol read with less adds the review "
        "reason low_confidence (per page for documents); default: the tenant's, else OCRQ_REVIEW_BELOW")


class JobCreate(JobOptions):
    """JSON body of POST /v1/jobs for an object already in storage."""

    source: SourceRef


def _form_list(text: str) -> list[str]:
    try:
        if text.strip().startswith("["):
            value = jsonlimits.loads(text, what="fields")
            return value if isinstance(value, list) else [value]
    except json.JSONDecodeError:
        raise refuse("invalid_task_params", "fields must be a JSON list or comma-separated names", "fields") from None
    return [f.strip() for f in text.split(",") if f.strip()]


def _form_schema(schema: dict[str, Any]) -> None:
    """A form field is text: a JSON-valued option is documented as the string it is sent as."""
    for prop in schema.get("properties", {}).values():
        nullable = prop.pop("anyOf", None)
        if nullable:
            prop.update(next(s for s in nullable if s.get("type") != "null"))
        if prop.get("default", "") is None:
            del prop["default"]
        if prop.get("type") in ("array", "object"):
            for key in ("items", "maxItems", "additionalProperties"):
                prop.pop(key, None)
            prop["type"] = "string"
        if prop.get("type") == "number":  # a decimal sent as text, e.g. review_below=0.8
            lo, hi = prop.pop("minimum", None), prop.pop("maximum", None)
            prop["type"] = "string"
            prop["pattern"] = r"^[0-9]+(\.[0-9]+)?$"
            if lo is not None and hi is not None:
                prop["description"] = f"{prop.get('description', '')} ({lo:g} to {hi:g})".strip()


class JobUpload(JobOptions):
    """multipart/form-data body of POST /v1/jobs: the file, and the options as form fields (an empty
    field is an absent one; `fields` and `metadata` are JSON text)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_form_schema)
    # What a form client has always been answered for these fields (the task's parameters: 400, pages: 422,
    # a webhook_url over 2048 characters: 400).
    problem_codes: ClassVar[dict[str, str]] = {
        "fields": "invalid_task_params", "target_lang": "invalid_task_params",
        "instruction": "invalid_task_params", "pages": "invalid_pages", "webhook_url": "unsafe_webhook_url",
    }
    file: Upload = Field(description="One image (jpeg, png, webp, bmp or tiff) or a PDF")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if v != ""}
        if isinstance(data.get("fields"), str):
            data["fields"] = _form_list(data["fields"])
        if isinstance(data.get("metadata"), str):
            try:
                data["metadata"] = jsonlimits.loads(data["metadata"], what="metadata")
            except json.JSONDecodeError:
                raise refuse("malformed_json", "metadata must be a JSON object", "metadata") from None
        return data


class SubmitHeaders(BaseModel):
    """Documented from here; checked where it is used (shared.jobs.submit.idempotency_name), after the file."""

    idempotency_key: str | None = Field(
        default=None, alias="Idempotency-Key", min_length=1, max_length=255,
        description="Repeat-safe submit: the same key (per tenant, 24 h) answers the first job with 200; the same "
        "key with a different image or options is a 409.",
        json_schema_extra={"pattern": "^[\\x20-\\x7e]+$"},
    )


# ------------------------------------------------------------------ queries
class JobListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: JobStatus | None = None
    needs_review: Boolean | None = Field(default=None, description="only jobs flagged (true) or not flagged "
                                         "(false) for review")
    created_after: IsoTimestamp | None = Field(default=None, description="ISO 8601 timestamp (exclusive)")
    created_before: IsoTimestamp | None = Field(default=None, description="ISO 8601 timestamp (exclusive)")
    task: TaskName | None = None
    priority: Priority | None = None
    batch_id: str | None = Field(default=None, min_length=1, max_length=64)
    limit: WholeNumber = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


class WaitQuery(BaseModel):
    wait: float = Field(default=0, ge=0, description="Seconds to wait for a final state (at most OCRQ_WAIT_MAX_S)",
                        json_schema_extra=deployment("wait_max_s"))
    problem_codes: ClassVar[dict[str, str]] = {"wait": "invalid_wait"}

    @field_validator("wait")
    @classmethod
    def _at_most_the_cap(cls, value: float, info: ValidationInfo) -> float:
        cap = getattr((info.context or {}).get("settings"), "wait_max_s", None)  # the gateway's settings
        if not value <= (cap if cap is not None else math.inf):
            raise ValueError(f"must be between 0 and {cap} seconds")
        return value


class CancelQuery(BaseModel):
    purge: Flag = off()


def _known_format(value: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"must be one of {choices_text()}")
    return value


# A result format's name: validated against, and documented from, the registry (shared/results/formats.py).
FormatName = Annotated[str, AfterValidator(_known_format), RegistryEnum(format_names)]


def _describe_formats(schema: dict[str, Any]) -> None:
    schema["description"] = "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values())


class ResultQuery(BaseModel):
    format: Annotated[FormatName, BeforeValidator(lambda v: v or "json")] = Field(
        default="json", json_schema_extra=_describe_formats)
    revision: Annotated[Digits, Field(ge=1)] | None = Field(
        default=None, description="1: the engine's result; 2: the reviewer's correction (default: the latest)")
    problem_codes: ClassVar[dict[str, str]] = {"format": "invalid_format"}


class ImageQuery(BaseModel):
    page: Annotated[Digits, Field(ge=1)] | None = Field(
        default=None,
        description="1-based page of a document (PDF, multi-page TIFF), rendered by the gateway as a JPEG preview "
        "(100 dpi, at most 1600 px a side, 10 s render limit); boxes in the result's pages[i] scale to it by width. "
        "For an image job only 1 (the image itself). Not a number: 400 invalid_query; past the last page: 422 "
        "invalid_pages; a page that cannot be rendered: 422 page_unreadable or render_timeout; renderer busy: 503 "
        "preview_busy. Without it: the stored input as submitted (a PDF for a PDF job).",
    )


# ------------------------------------------------------------------ the job document
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
    """The rescan verdict of quality=check (shared/intake/quality.py): measures on 0..1 scales."""

    verdict: Literal["ok", "rescan"]
    reasons: list[str]  # too_dark, overexposed, blurred, glare, too_small; most severe first
    sharpness: float  # p99 of the contrast-stretched gradient: 1 sharp, under 0.65 blurred
    brightness: float  # median luminance
    glare_fraction: float  # share of the image in clipped patches on the paper


class JobOut(BaseModel):
    id: str
    status: JobStatus
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
    # Only on a job that was routed to human review (absent otherwise): shared/api_schemas/reviews.py.
    review: ReviewOut | None = None
    # Only while tracing is on (absent otherwise): the OpenTelemetry trace id of the job, 32 hex digits, the
    # one the 202's traceparent header named; the gateway's, worker's and webhook worker's spans share it.
    trace_id: str | None = None


class JobList(BaseModel):
    items: list[JobOut]
    next_cursor: str | None = None
