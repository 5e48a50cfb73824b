from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset


T = TypeVar("T", bound="InputOut")


@_attrs_define
class InputOut:
    """
        Attributes:
            bytes_ (int):
            content_type (str):
            height (int):
            sha256 (str):
            width (int):
     """

    bytes_: int
    content_type: str
    height: int
    sha256: str
    width: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        bytes_ = self.bytes_

        content_type = self.content_type

        height = self.height

        sha256 = self.sha256

        width = self.width


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "bytes": bytes_,
            "content_type": content_type,
            "height": height,
            "sha256": sha256,
            "width": width,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        bytes_ = d.pop("bytes")

        content_type = d.pop("content_type")

        height = d.pop("height")

        sha256 = d.pop("sha256")

        width = d.pop("width")

        input_out = cls(
            bytes_=bytes_,
            content_type=content_type,
            height=height,
            sha256=sha256,
            width=width,
        )


        input_out.additional_properties = d
        return input_out

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
