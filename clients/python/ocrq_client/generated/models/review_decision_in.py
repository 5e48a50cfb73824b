from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.review_decision_in_decision import check_review_decision_in_decision
from ..models.review_decision_in_decision import ReviewDecisionInDecision
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.corrections import Corrections


T = TypeVar("T", bound="ReviewDecisionIn")


@_attrs_define
class ReviewDecisionIn:
    """ PUT /v1/jobs/{id}/review: resolve the review (claimed by this key, or open).

        Attributes:
            decision (ReviewDecisionInDecision):
            corrections (Corrections | None | Unset):
            note (None | str | Unset):
            reason (None | str | Unset): reject: why (e.g. rescan)
     """

    decision: ReviewDecisionInDecision
    corrections: Corrections | None | Unset = UNSET
    note: None | str | Unset = UNSET
    reason: None | str | Unset = UNSET


    def to_dict(self) -> dict[str, Any]:
        from ..models.corrections import Corrections # noqa: PLC0415
        decision: str = self.decision

        corrections: dict[str, Any] | None | Unset
        if isinstance(self.corrections, Unset):
            corrections = UNSET
        elif isinstance(self.corrections, Corrections):
            corrections = self.corrections.to_dict()
        else:
            corrections = self.corrections

        note: None | str | Unset
        if isinstance(self.note, Unset):
            note = UNSET
        else:
            note = self.note

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "decision": decision,
        })
        if corrections is not UNSET:
            field_dict["corrections"] = corrections
        if note is not UNSET:
            field_dict["note"] = note
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.corrections import Corrections # noqa: PLC0415
        d = dict(src_dict)
        decision = check_review_decision_in_decision(d.pop("decision"))


        def _parse_corrections(data: object) -> Corrections | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                corrections_type_0 = Corrections.from_dict(data)


                return corrections_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Corrections | None | Unset, data)

        corrections = _parse_corrections(d.pop("corrections", UNSET))


        def _parse_note(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        note = _parse_note(d.pop("note", UNSET))


        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))


        review_decision_in = cls(
            decision=decision,
            corrections=corrections,
            note=note,
            reason=reason,
        )

        return review_decision_in
