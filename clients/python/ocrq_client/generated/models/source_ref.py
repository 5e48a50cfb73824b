from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset


T = TypeVar("T", bound="SourceRef")


@_attrs_define
class SourceRef:
    """
        Attributes:
            bucket (str):
            key (str):
     """

    bucket: str
    key: str


    def to_dict(self) -> dict[str, Any]:
        bucket = self.bucket

        key = self.key


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "bucket": bucket,
            "key": key,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        bucket = d.pop("bucket")

        key = d.pop("key")

        source_ref = cls(
            bucket=bucket,
            key=key,
        )

        return source_ref
