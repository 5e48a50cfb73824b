from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.review_out_decision_type_0 import check_review_out_decision_type_0
from ..models.review_out_decision_type_0 import ReviewOutDecisionType0
from ..models.review_out_state import check_review_out_state
from ..models.review_out_state import ReviewOutState
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.low_confidence_line import LowConfidenceLine
  from ..models.reviewer import Reviewer


T = TypeVar("T", bound="ReviewOut")


@_attrs_define
class ReviewOut:
    """ The review block of a job (its status stays succeeded).

        Attributes:
            opened_at (str):
            reasons (list[str]): review reasons: the label's (check_digit, invalid_date, text_mismatch, answer_mismatch),
                low_confidence, pages_failed, or requested (review=always)
            state (ReviewOutState):
            claimed_at (None | str | Unset):
            claimed_by (None | Reviewer | Unset):
            corrections (int | Unset):  Default: 0.
            decision (None | ReviewOutDecisionType0 | Unset):
            lease_until (None | str | Unset): a claim ends here unless renewed; then the review is open again
            low_confidence (list[LowConfidenceLine] | Unset):
            note (None | str | Unset):
            reject_reason (None | str | Unset):
            resolved_at (None | str | Unset):
            resolved_by (None | Reviewer | Unset):
            review_below (float | None | Unset):
            revision (int | Unset): the result revision served: 1 the engine's, 2 the correction Default: 1.
     """

    opened_at: str
    reasons: list[str]
    state: ReviewOutState
    claimed_at: None | str | Unset = UNSET
    claimed_by: None | Reviewer | Unset = UNSET
    corrections: int | Unset = 0
    decision: None | ReviewOutDecisionType0 | Unset = UNSET
    lease_until: None | str | Unset = UNSET
    low_confidence: list[LowConfidenceLine] | Unset = UNSET
    note: None | str | Unset = UNSET
    reject_reason: None | str | Unset = UNSET
    resolved_at: None | str | Unset = UNSET
    resolved_by: None | Reviewer | Unset = UNSET
    review_below: float | None | Unset = UNSET
    revision: int | Unset = 1
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.low_confidence_line import LowConfidenceLine # noqa: PLC0415
        from ..models.reviewer import Reviewer # noqa: PLC0415
        opened_at = self.opened_at

        reasons = self.reasons


        state: str = self.state

        claimed_at: None | str | Unset
        if isinstance(self.claimed_at, Unset):
            claimed_at = UNSET
        else:
            claimed_at = self.claimed_at

        claimed_by: dict[str, Any] | None | Unset
        if isinstance(self.claimed_by, Unset):
            claimed_by = UNSET
        elif isinstance(self.claimed_by, Reviewer):
            claimed_by = self.claimed_by.to_dict()
        else:
            claimed_by = self.claimed_by

        corrections = self.corrections

        decision: None | str | Unset
        if isinstance(self.decision, Unset):
            decision = UNSET
        elif isinstance(self.decision, str):
            decision = self.decision
        else:
            decision = self.decision

        lease_until: None | str | Unset
        if isinstance(self.lease_until, Unset):
            lease_until = UNSET
        else:
            lease_until = self.lease_until

        low_confidence: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.low_confidence, Unset):
            low_confidence = []
            for low_confidence_item_data in self.low_confidence:
                low_confidence_item = low_confidence_item_data.to_dict()
                low_confidence.append(low_confidence_item)


        note: None | str | Unset
        if isinstance(self.note, Unset):
            note = UNSET
        else:
            note = self.note

        reject_reason: None | str | Unset
        if isinstance(self.reject_reason, Unset):
            reject_reason = UNSET
        else:
            reject_reason = self.reject_reason

        resolved_at: None | str | Unset
        if isinstance(self.resolved_at, Unset):
            resolved_at = UNSET
        else:
            resolved_at = self.resolved_at

        resolved_by: dict[str, Any] | None | Unset
        if isinstance(self.resolved_by, Unset):
            resolved_by = UNSET
        elif isinstance(self.resolved_by, Reviewer):
            resolved_by = self.resolved_by.to_dict()
        else:
            resolved_by = self.resolved_by

        review_below: float | None | Unset
        if isinstance(self.review_below, Unset):
            review_below = UNSET
        else:
            review_below = self.review_below

        revision = self.revision


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "opened_at": opened_at,
            "reasons": reasons,
            "state": state,
        })
        if claimed_at is not UNSET:
            field_dict["claimed_at"] = claimed_at
        if claimed_by is not UNSET:
            field_dict["claimed_by"] = claimed_by
        if corrections is not UNSET:
            field_dict["corrections"] = corrections
        if decision is not UNSET:
            field_dict["decision"] = decision
        if lease_until is not UNSET:
            field_dict["lease_until"] = lease_until
        if low_confidence is not UNSET:
            field_dict["low_confidence"] = low_confidence
        if note is not UNSET:
            field_dict["note"] = note
        if reject_reason is not UNSET:
            field_dict["reject_reason"] = reject_reason
        if resolved_at is not UNSET:
            field_dict["resolved_at"] = resolved_at
        if resolved_by is not UNSET:
            field_dict["resolved_by"] = resolved_by
        if review_below is not UNSET:
            field_dict["review_below"] = review_below
        if revision is not UNSET:
            field_dict["revision"] = revision

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.low_confidence_line import LowConfidenceLine # noqa: PLC0415
        from ..models.reviewer import Reviewer # noqa: PLC0415
        d = dict(src_dict)
        opened_at = d.pop("opened_at")

        reasons = cast(list[str], d.pop("reasons"))


        state = check_review_out_state(d.pop("state"))


        def _parse_claimed_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        claimed_at = _parse_claimed_at(d.pop("claimed_at", UNSET))


        def _parse_claimed_by(data: object) -> None | Reviewer | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                claimed_by_type_0 = Reviewer.from_dict(data)


                return claimed_by_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Reviewer | Unset, data)

        claimed_by = _parse_claimed_by(d.pop("claimed_by", UNSET))


        corrections = d.pop("corrections", UNSET)

        def _parse_decision(data: object) -> None | ReviewOutDecisionType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                decision_type_0 = check_review_out_decision_type_0(data)


                return decision_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ReviewOutDecisionType0 | Unset, data)

        decision = _parse_decision(d.pop("decision", UNSET))


        def _parse_lease_until(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        lease_until = _parse_lease_until(d.pop("lease_until", UNSET))


        _low_confidence = d.pop("low_confidence", UNSET)
        low_confidence: list[LowConfidenceLine] | Unset = UNSET
        if _low_confidence is not UNSET:
            low_confidence = []
            for low_confidence_item_data in _low_confidence:
                low_confidence_item = LowConfidenceLine.from_dict(low_confidence_item_data)


                low_confidence.append(low_confidence_item)


        def _parse_note(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        note = _parse_note(d.pop("note", UNSET))


        def _parse_reject_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reject_reason = _parse_reject_reason(d.pop("reject_reason", UNSET))


        def _parse_resolved_at(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        resolved_at = _parse_resolved_at(d.pop("resolved_at", UNSET))


        def _parse_resolved_by(data: object) -> None | Reviewer | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                resolved_by_type_0 = Reviewer.from_dict(data)


                return resolved_by_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Reviewer | Unset, data)

        resolved_by = _parse_resolved_by(d.pop("resolved_by", UNSET))


        def _parse_review_below(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        review_below = _parse_review_below(d.pop("review_below", UNSET))


        revision = d.pop("revision", UNSET)

        review_out = cls(
            opened_at=opened_at,
            reasons=reasons,
            state=state,
            claimed_at=claimed_at,
            claimed_by=claimed_by,
            corrections=corrections,
            decision=decision,
            lease_until=lease_until,
            low_confidence=low_confidence,
            note=note,
            reject_reason=reject_reason,
            resolved_at=resolved_at,
            resolved_by=resolved_by,
            review_below=review_below,
            revision=revision,
        )


        review_out.additional_properties = d
        return review_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
