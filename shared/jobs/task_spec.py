"""OCR tasks a job may ask for and their parameters (which engine can do which: shared/engines.py).

The gateway validates a task here, before anything is stored or queued, so a job an engine
cannot do is refused at submit time (400), never after it sat in a queue.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

TaskName = Literal[
    "text", "spotting", "parse", "table", "formula", "chart", "fields", "translate", "ask",
    "spotting_json", "layout", "layout_parse", "barcodes",
]
TASK_NAMES: tuple[str, ...] = TaskName.__args__  # type: ignore[attr-defined]  # a Literal's members; typing has no public accessor
# Tasks the worker does itself (models/barcodes.py) without calling the OCR engine: every engine "supports" them.
DECODER_TASKS = frozenset({"barcodes"})

# HunyuanOCR 1.5's own tasks (its official prompts, models/prompts.py): a 1.0 checkpoint has no prompt for
# them, so a hunyuan engine serving 1.0 weights refuses them per job (unsupported_task).
HUNYUAN_1_5_TASKS = frozenset({"spotting_json", "layout", "layout_parse"})

BarcodesOption = Literal["auto", "on", "off"]
BARCODES_AUTO_MAX_PAGES = 5  # barcodes=auto decodes the pages of documents of at most this many pages
BARCODES_OPTIONS: tuple[str, ...] = BarcodesOption.__args__  # type: ignore[attr-defined]  # as TASK_NAMES


class TaskSpec(BaseModel):
    """A task and its parameters, as stored on a job and handed to an engine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: TaskName = "text"
    fields: tuple[str, ...] | None = Field(default=None, max_length=64)
    target_lang: Literal["en", "zh"] | None = None
    instruction: str | None = Field(default=None, max_length=2000)
    # None is "auto" (on for images), kept out of params so that jobs without the option look as before.
    barcodes: Literal["on", "off"] | None = None
    # Human review (shared/reviews/): None is "auto" (a job with a review reason opens one), kept out of params
    # like barcodes; review_below: a line or symbol whose confidence is under it adds the reason low_confidence.
    review: Literal["always", "off"] | None = None
    review_below: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("review", mode="before")
    @classmethod
    def _review_auto_is_default(cls, v: object) -> object:
        return None if v in ("auto", "") else v

    @model_serializer(mode="wrap")
    def _review_only_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The review options appear in a dump only when given: a job's and a batch item's fingerprint (and a
        stored spec) stay what they were before the options existed, so reruns and idempotent replays match."""
        data: dict[str, Any] = handler(self)
        for name in ("review", "review_below"):
            if data.get(name) is None:
                data.pop(name, None)
        return data

    @field_validator("barcodes", mode="before")
    @classmethod
    def _auto_is_default(cls, v: object) -> object:
        if v == "auto" or v == "":
            return None
        if v is not None and v not in BARCODES_OPTIONS:
            raise ValueError(f"barcodes must be one of: {', '.join(BARCODES_OPTIONS)}")
        return v

    @model_validator(mode="after")
    def _params_match_task(self) -> TaskSpec:
        if self.task == "fields" and not self.fields:
            raise ValueError("task 'fields' needs a non-empty list of field names (fields)")
        if self.task == "translate" and not self.target_lang:
            raise ValueError("task 'translate' needs target_lang 'en' or 'zh'")
        if self.task == "ask" and not (self.instruction or "").strip():
            raise ValueError("task 'ask' needs an instruction")
        if self.fields is not None and any(not f.strip() or len(f) > 100 for f in self.fields):
            raise ValueError("each field name must be 1-100 characters")
        return self

    def params(self) -> dict[str, object]:
        return self.model_dump(exclude={"task"}, exclude_none=True)

    @property
    def wants_barcodes(self) -> bool:
        """Decode symbols on an image job: the barcodes task always; any other unless barcodes=off (auto is on
        for images; documents: see wants_page_barcodes)."""
        return self.task in DECODER_TASKS or self.barcodes != "off"

    @property
    def thorough_barcodes(self) -> bool:
        """Search hard (contrast, upscale, deskew) when barcodes are what was asked for; barcodes=auto
        on an OCR task takes the decoder's quick first pass only (models/barcodes.py)."""
        return self.task in DECODER_TASKS or self.barcodes == "on"

    def wants_page_barcodes(self, pages_selected: int) -> bool:
        """Decode symbols on each page of a document: the barcodes task and barcodes=on always, auto only
        for short documents (a delivery note with a label), never for an archive scan of hundreds of pages."""
        return (self.task in DECODER_TASKS or self.barcodes == "on"
                or (self.barcodes is None and pages_selected <= BARCODES_AUTO_MAX_PAGES))
