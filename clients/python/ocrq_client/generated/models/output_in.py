from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset


T = TypeVar("T", bound="OutputIn")


@_attrs_define
class OutputIn:
    """
        Attributes:
            bucket (str):
            prefix (str | Unset):  Default: ''.
     """

    bucket: str
    prefix: str | Unset = ''


    def to_dict(self) -> dict[str, Any]:
        bucket = self.bucket

        prefix = self.prefix


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "bucket": bucket,
        })
        if prefix is not UNSET:
            field_dict["prefix"] = prefix

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        bucket = d.pop("bucket")

        prefix = d.pop("prefix", UNSET)

        output_in = cls(
            bucket=bucket,
            prefix=prefix,
        )

        return output_in
