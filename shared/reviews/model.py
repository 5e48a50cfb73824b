"""The review block on a job and the errors its lifecycle answers.

    (none) ──open──▶ open ──claim──▶ claimed ──resolve──▶ resolved (final)
                       ▲                │
                       └─ lease expired ┘   (read as open; any reviewer may claim it)

The block is one field (``review``) of the job's hash, JSON; every change is a compare-and-set on
that field's exact stored text in one Lua script that also checks the job is ``succeeded``
(shared/reviews/store.py). The job keeps ``status=succeeded`` throughout.
"""

from __future__ import annotations

from typing import Any, Literal

from shared import errors

STATES = ("open", "claimed", "resolved")
DECISIONS = ("approve", "correct", "reject")
Decision = Literal["approve", "correct", "reject"]
ReviewMode = Literal["auto", "always", "off"]
REVIEW_MODES: tuple[str, ...] = ("auto", "always", "off")
LOW_CONFIDENCE = "low_confidence"
REQUESTED = "requested"  # review=always on a job with no other reason
NOTE_MAX_CHARS = 2000
REJECT_REASON_MAX_CHARS = 200
DEFAULT_LEASE_S = 600


def effective_state(block: dict[str, Any] | None, now_ms: int) -> str | None:
    """The state as a reader sees it: a claim whose lease ran out is open again."""
    if not block:
        return None
    state = str(block.get("state"))
    if state == "claimed" and int(block.get("lease_until") or 0) <= now_ms:
        return "open"
    return state


def shown(block: dict[str, Any] | None, now_ms: int) -> dict[str, Any] | None:
    """The block as the API and events show it (an expired claim shows as open, without its holder)."""
    if not block:
        return None
    out = dict(block)
    out["state"] = effective_state(block, now_ms)
    if out["state"] == "open":
        out["claimed_by"] = None
        out["lease_until"] = None
    return out


class NoReview(errors.Conflict):
    """The job has no review: it was not routed to one (review=off, or nothing to look at)."""

    code = "no_review"


class JobNotReviewable(errors.Conflict):
    """The job has not succeeded (it is queued, running, failed or canceled): only a succeeded job is reviewed."""

    code = "job_not_reviewable"


class ReviewClaimed(errors.Conflict):
    """Another reviewer holds the review's claim until its lease runs out (the answer says who and until when)."""

    code = "review_claimed"


class ReviewResolved(errors.Conflict):
    """The review is already resolved; a resolution is final."""

    code = "review_resolved"


class ReviewChanged(errors.Conflict):
    """The review changed while this request was applying (another reviewer acted first): read it and retry."""

    code = "review_changed"


class UnknownLine(errors.ValidationFailed):
    """A correction names a line (or page) the result does not have."""

    code = "unknown_line"


class UnknownBarcode(errors.ValidationFailed):
    """A correction names a barcode, or a GS1 AI of a barcode, the result does not have."""

    code = "unknown_barcode"


class UnknownField(errors.ValidationFailed):
    """A correction names a field the job did not ask for (task fields) and the result does not have."""

    code = "unknown_field"


class InvalidGs1(errors.ValidationFailed):
    """A corrected GS1 value is malformed or fails its check digit or date (the same rules as a decoded one)."""

    code = "invalid_gs1"


class InvalidDecision(errors.ValidationFailed):
    """The decision and what came with it do not fit: correct needs corrections, reject a reason, approve neither."""

    code = "invalid_decision"


class RevisionNotFound(errors.NotFound):
    """The job has no result revision with this number (1 is the engine's; 2 exists after a correction)."""

    code = "revision_not_found"
