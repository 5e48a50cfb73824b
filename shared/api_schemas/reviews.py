"""/v1/reviews and a job's review: the queue, a claim, a decision with corrections, the training export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.api_schemas.common import IsoTimestamp, WholeNumber
from shared.reviews.model import NOTE_MAX_CHARS, REJECT_REASON_MAX_CHARS

ReviewState = Literal["open", "claimed", "resolved"]


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):  # JSON true/false is no confidence (pydantic would read it as 1.0 / 0.0)
        raise ValueError("must be a number from 0 to 1")
    return value


# A confidence floor: a line or symbol read with less confidence adds the review reason low_confidence.
Floor = Annotated[float, BeforeValidator(_not_a_bool), Field(ge=0.0, le=1.0)]


class Reviewer(BaseModel):
    key_id: str
    name: str


class LowConfidenceLine(BaseModel):
    page: int = Field(description="1-based page (an image: 1)")
    line: int = Field(description="index of the line in that page's lines (an image: in the result's lines)")
    confidence: float


class ReviewOut(BaseModel):
    """The review block of a job (its status stays succeeded)."""

    state: ReviewState
    reasons: list[str] = Field(description="review reasons: the label's (check_digit, invalid_date, text_mismatch, "
                               "answer_mismatch), low_confidence, pages_failed, or requested (review=always)")
    low_confidence: list[LowConfidenceLine] = Field(default_factory=list)
    review_below: float | None = None
    opened_at: str
    claimed_by: Reviewer | None = None
    claimed_at: str | None = None
    lease_until: str | None = Field(default=None, description="a claim ends here unless renewed; then the review is "
                                    "open again")
    resolved_at: str | None = None
    resolved_by: Reviewer | None = None
    decision: Literal["approve", "correct", "reject"] | None = None
    reject_reason: str | None = None
    note: str | None = None
    revision: int = Field(default=1, description="the result revision served: 1 the engine's, 2 the correction")
    corrections: int = 0


class ReviewListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: ReviewState | None = Field(default="open", description="open (claims with an expired lease included), "
                                      "claimed, resolved")
    reason: str | None = Field(default=None, max_length=64)
    batch_id: str | None = Field(default=None, max_length=64)
    limit: WholeNumber = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class ReviewItem(BaseModel):
    job_id: str
    batch_id: str | None = None
    task: str
    created_at: str
    review: ReviewOut
    links: dict[str, str]


class ReviewList(BaseModel):
    items: list[ReviewItem]
    counts: dict[str, int] = Field(description="reviews in this state by reason (before the reason filter)")
    next_cursor: str | None = None


class ClaimIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lease_s: int | None = Field(default=None, ge=10, le=3600, description="how long the claim holds (default 600 s)")


class LineCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0, description="the line's index (in the page's lines when page is given)")
    page: int | None = Field(default=None, ge=1, description="documents: the 1-based page")
    text: str = Field(max_length=4000)


class Gs1Correction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    barcode: int = Field(ge=0, description="index in the result's barcodes")
    ai: str = Field(pattern=r"^[0-9]{2,4}$", description="the application identifier, e.g. 00 (SSCC)")
    value: str = Field(min_length=1, max_length=90, description="the corrected data, validated as a decoded one")


class BarcodeCorrection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0)
    text: str = Field(min_length=1, max_length=4000)


class Corrections(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[LineCorrection] = Field(default_factory=list, max_length=2000)
    fields: dict[str, Any] = Field(default_factory=dict, description="task fields: name -> corrected value")
    gs1: list[Gs1Correction] = Field(default_factory=list, max_length=200)
    barcodes: list[BarcodeCorrection] = Field(default_factory=list, max_length=200)

    def empty(self) -> bool:
        return not (self.lines or self.fields or self.gs1 or self.barcodes)


class ReviewDecisionIn(BaseModel):
    """PUT /v1/jobs/{id}/review: resolve the review (claimed by this key, or open)."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "correct", "reject"]
    corrections: Corrections | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=REJECT_REASON_MAX_CHARS,
                               description="reject: why (e.g. rescan)")
    note: str | None = Field(default=None, max_length=NOTE_MAX_CHARS)


class ReviewAnswer(BaseModel):
    job_id: str
    review: ReviewOut
    diff: list[dict[str, Any]] | None = None


class ReviewSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review_below: Floor | None = Field(default=None, description="the tenant's default confidence "
                                       "floor (null: none, the setting OCRQ_REVIEW_BELOW applies)")


class ReviewSettingsOut(BaseModel):
    review_below: float | None = None


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: IsoTimestamp = Field(description="reviews resolved at or after this time (ISO 8601)")
    limit: WholeNumber = Field(default=1000, ge=1, le=10000)
