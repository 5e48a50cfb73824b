"""/v1/batches: the backfill request, the batch as the API shows it (shared.batches.control.batch_view,
which the batch.completed event carries too), its dry run, its failures."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from shared.api_schemas.common import Digits
from shared.api_schemas.jobs import FormatName
from shared.results.formats import FORMATS, choices_text

BatchId = Annotated[str, Field(min_length=1, max_length=64)]
DRY_RUN_MAX_ITEMS = 100_000


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str = Field(min_length=1, max_length=63)
    prefix: str | None = Field(default=None, max_length=1024)
    glob: str | None = Field(default=None, max_length=256)
    manifest: str | None = Field(
        default=None, max_length=1024, description="key of a JSONL or CSV manifest in the bucket"
    )
    manifest_text: str | None = Field(
        default=None, description="the manifest itself (JSONL or CSV), stored by the gateway"
    )
    manifest_format: Literal["jsonl", "csv"] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SourceIn:
        kinds = sum(x is not None for x in (self.prefix, self.manifest, self.manifest_text))
        if kinds != 1:
            raise ValueError("give exactly one of prefix, manifest or manifest_text")
        if self.glob and self.prefix is None:
            raise ValueError("glob applies to a prefix source only")
        return self


class OutputIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bucket: str = Field(min_length=1, max_length=63)
    prefix: str = Field(default="", max_length=1024)


def _describe_output_formats(schema: dict[str, Any]) -> None:
    """From the format registry: each format's file, and a list holds each at most once."""
    files = ", ".join(f"<key>.{f.suffix} ({f.name}{', the result, default' if f.name == 'json' else ''})"
                      for f in FORMATS.values())
    schema["description"] = (
        f"what is written per item under the output prefix: {files}; one or a list. "
        "Without json, a small _done/<key>.json record replaces the result JSON (rerun dedup).")
    for alternative in schema.get("anyOf", []):
        if alternative.get("type") == "array":
            alternative["maxItems"] = len(FORMATS)


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: SourceIn
    output: OutputIn
    output_format: FormatName | Annotated[list[FormatName], Field(min_length=1)] = Field(
        default="json", json_schema_extra=_describe_output_formats)
    task: str = "text"
    fields: list[str] | None = Field(default=None, max_length=64)
    target_lang: Literal["en", "zh"] | None = None
    instruction: str | None = Field(default=None, max_length=2000)
    webhook_url: str | None = Field(default=None, max_length=2048)
    window: int | None = Field(default=None, ge=1, le=10_000, description="items in flight at once for this batch")
    dry_run: bool = False
    dry_run_limit: int = Field(default=10_000, ge=1, le=DRY_RUN_MAX_ITEMS)

    @field_validator("output_format", mode="before")
    @classmethod
    def _known_formats(cls, value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        allowed = choices_text()
        if not values:
            raise ValueError(f"give at least one of {allowed}")
        bad = [v for v in values if v not in FORMATS]
        if bad:
            raise ValueError(f"must be one of {allowed} (or a list of them); got {bad[0]!r}")
        if len(values) > len(FORMATS):
            raise ValueError(f"give each of {allowed} at most once")
        return value

    @property
    def formats(self) -> tuple[str, ...]:
        values = self.output_format if isinstance(self.output_format, list) else [self.output_format]
        return tuple(dict.fromkeys(values))  # in the order given, once each


# ------------------------------------------------------------------ the batch
class BatchCounts(BaseModel):
    """Items by state, and pages beside them (a PDF/TIFF item counts its pages, an image one): pages_total as
    items are planned, pages_done/pages_failed as they finish, pages_skipped for items done before."""

    planned: int = Field(ge=0)
    queued: int = Field(ge=0)
    running: int = Field(ge=0)
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    skipped: int = Field(ge=0)
    canceled: int = Field(ge=0)
    pages_total: int = Field(ge=0)
    pages_done: int = Field(ge=0)
    pages_failed: int = Field(ge=0)
    pages_skipped: int = Field(ge=0)


class BatchSource(BaseModel):
    bucket: str
    prefix: str | None = Field(default=None, description="a prefix source (absent for a manifest)")
    manifest: str | None = Field(default=None, description="a manifest source: its key (absent for a prefix)")
    glob: str | None = Field(default=None, description="only when given")


class BatchOutput(BaseModel):
    bucket: str
    prefix: str
    ledger: str
    formats: list[FormatName]


class BatchLinks(BaseModel):
    self: str
    failures: str


class BatchOut(BaseModel):
    id: str
    status: str
    task: str
    params: dict[str, Any]
    source: BatchSource
    output: BatchOutput
    window: int
    counts: BatchCounts
    done: int = Field(ge=0)
    total: int | None
    listing_done: bool
    throughput_items_per_s: float
    average_items_per_s: float
    eta_s: float | None
    created_at: str | None
    finished_at: str | None
    webhook_url: str | None
    links: BatchLinks


class BatchList(BaseModel):
    items: list[BatchOut] = Field(description="the tenant's newest 50 batches")


class DryRunOutput(BaseModel):
    bucket: str
    prefix: str
    formats: list[FormatName]


class DryRunFailure(BaseModel):
    key: str
    code: str
    message: str


class DryRunSamples(BaseModel):
    run: list[str]
    skip: list[str]
    fail: list[DryRunFailure]


class DryRunOut(BaseModel):
    """What a batch would do, listed and classified without queueing or writing anything."""

    dry_run: Literal[True]
    listed: int
    truncated: bool
    total: int | None
    would_run: int
    would_skip: int
    would_fail: int
    engine: str
    engine_version: str | None
    note: str | None
    source: BatchSource
    output: DryRunOutput
    samples: DryRunSamples


class BatchFailure(BaseModel):
    """A failed item (shared.batches.accounting.failure_json)."""

    model_config = ConfigDict(extra="allow")
    key: str
    line: int | None = None
    metadata: Any = None
    code: str
    message: str
    sha256: str | None = None
    retryable: bool | None = None
    at: int | None = Field(default=None, description="when it failed, epoch ms")
    pages: int | None = Field(default=None, description="documents: the pages it counted")
    pages_failed: int | None = None


class FailuresQuery(BaseModel):
    cursor: Annotated[Digits, WithJsonSchema({"type": "string", "pattern": "^[0-9]+$"})] = Field(
        default=0, lt=2**64, description="next_cursor of the previous page",
        json_schema_extra=lambda schema: schema.update(default="0"))
    limit: Digits = Field(default=100, ge=1, le=1000)


class FailureList(BaseModel):
    items: list[BatchFailure]
    next_cursor: str | None = None


class RetryOut(BaseModel):
    requeued: int = Field(ge=0)
    batch: BatchOut
