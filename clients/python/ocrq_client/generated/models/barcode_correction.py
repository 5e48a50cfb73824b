from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset


T = TypeVar("T", bound="BarcodeCorrection")


@_attrs_define
class BarcodeCorrection:
    """
        Attributes:
            index (int):
            text (str):
     """

    index: int
    text: str


    def to_dict(self) -> dict[str, Any]:
        index = self.index

        text = self.text


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "index": index,
            "text": text,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        index = d.pop("index")

        text = d.pop("text")

        barcode_correction = cls(
            index=index,
            text=text,
        )

        return barcode_correction
