from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset


T = TypeVar("T", bound="LowConfidenceLine")


@_attrs_define
class LowConfidenceLine:
    """
        Attributes:
            confidence (float):
            line (int): index of the line in that page's lines (an image: in the result's lines)
            page (int): 1-based page (an image: 1)
     """

    confidence: float
    line: int
    page: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        confidence = self.confidence

        line = self.line

        page = self.page


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "confidence": confidence,
            "line": line,
            "page": page,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        confidence = d.pop("confidence")

        line = d.pop("line")

        page = d.pop("page")

        low_confidence_line = cls(
            confidence=confidence,
            line=line,
            page=page,
        )


        low_confidence_line.additional_properties = d
        return low_confidence_line

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
