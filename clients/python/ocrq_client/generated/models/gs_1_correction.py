from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset


T = TypeVar("T", bound="Gs1Correction")


@_attrs_define
class Gs1Correction:
    """
        Attributes:
            ai (str): the application identifier, e.g. 00 (SSCC)
            barcode (int): index in the result's barcodes
            value (str): the corrected data, validated as a decoded one
     """

    ai: str
    barcode: int
    value: str


    def to_dict(self) -> dict[str, Any]:
        ai = self.ai

        barcode = self.barcode

        value = self.value


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "ai": ai,
            "barcode": barcode,
            "value": value,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        ai = d.pop("ai")

        barcode = d.pop("barcode")

        value = d.pop("value")

        gs_1_correction = cls(
            ai=ai,
            barcode=barcode,
            value=value,
        )

        return gs_1_correction
