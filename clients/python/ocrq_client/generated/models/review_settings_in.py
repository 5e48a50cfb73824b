from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast


T = TypeVar("T", bound="ReviewSettingsIn")


@_attrs_define
class ReviewSettingsIn:
    """
        Attributes:
            review_below (float | None | Unset): the tenant's default confidence floor (null: none, the setting
                OCRQ_REVIEW_BELOW applies)
     """

    review_below: float | None | Unset = UNSET


    def to_dict(self) -> dict[str, Any]:
        review_below: float | None | Unset
        if isinstance(self.review_below, Unset):
            review_below = UNSET
        else:
            review_below = self.review_below


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if review_below is not UNSET:
            field_dict["review_below"] = review_below

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_review_below(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        review_below = _parse_review_below(d.pop("review_below", UNSET))


        review_settings_in = cls(
            review_below=review_below,
        )

        return review_settings_in
