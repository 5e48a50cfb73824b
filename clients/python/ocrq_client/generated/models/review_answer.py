from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.review_answer_diff_type_0_item import ReviewAnswerDiffType0Item
  from ..models.review_out import ReviewOut


T = TypeVar("T", bound="ReviewAnswer")


@_attrs_define
class ReviewAnswer:
    """
        Attributes:
            job_id (str):
            review (ReviewOut): The review block of a job (its status stays succeeded).
            diff (list[ReviewAnswerDiffType0Item] | None | Unset):
     """

    job_id: str
    review: ReviewOut
    diff: list[ReviewAnswerDiffType0Item] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.review_answer_diff_type_0_item import ReviewAnswerDiffType0Item # noqa: PLC0415
        from ..models.review_out import ReviewOut # noqa: PLC0415
        job_id = self.job_id

        review = self.review.to_dict()

        diff: list[dict[str, Any]] | None | Unset
        if isinstance(self.diff, Unset):
            diff = UNSET
        elif isinstance(self.diff, list):
            diff = []
            for diff_type_0_item_data in self.diff:
                diff_type_0_item = diff_type_0_item_data.to_dict()
                diff.append(diff_type_0_item)


        else:
            diff = self.diff


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "job_id": job_id,
            "review": review,
        })
        if diff is not UNSET:
            field_dict["diff"] = diff

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.review_answer_diff_type_0_item import ReviewAnswerDiffType0Item # noqa: PLC0415
        from ..models.review_out import ReviewOut # noqa: PLC0415
        d = dict(src_dict)
        job_id = d.pop("job_id")

        review = ReviewOut.from_dict(d.pop("review"))


        def _parse_diff(data: object) -> list[ReviewAnswerDiffType0Item] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                diff_type_0 = []
                _diff_type_0 = data
                for diff_type_0_item_data in (_diff_type_0):
                    diff_type_0_item = ReviewAnswerDiffType0Item.from_dict(diff_type_0_item_data)


                    diff_type_0.append(diff_type_0_item)

                return diff_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[ReviewAnswerDiffType0Item] | None | Unset, data)

        diff = _parse_diff(d.pop("diff", UNSET))


        review_answer = cls(
            job_id=job_id,
            review=review,
            diff=diff,
        )


        review_answer.additional_properties = d
        return review_answer

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
