from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.dry_run_output_formats_item import check_dry_run_output_formats_item
from ..models.dry_run_output_formats_item import DryRunOutputFormatsItem
from typing import cast


T = TypeVar("T", bound="DryRunOutput")


@_attrs_define
class DryRunOutput:
    """
        Attributes:
            bucket (str):
            formats (list[DryRunOutputFormatsItem]):
            prefix (str):
     """

    bucket: str
    formats: list[DryRunOutputFormatsItem]
    prefix: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        bucket = self.bucket

        formats = []
        for formats_item_data in self.formats:
            formats_item: str = formats_item_data
            formats.append(formats_item)


        prefix = self.prefix


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "bucket": bucket,
            "formats": formats,
            "prefix": prefix,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        bucket = d.pop("bucket")

        formats = []
        _formats = d.pop("formats")
        for formats_item_data in (_formats):
            formats_item = check_dry_run_output_formats_item(formats_item_data)


            formats.append(formats_item)


        prefix = d.pop("prefix")

        dry_run_output = cls(
            bucket=bucket,
            formats=formats,
            prefix=prefix,
        )


        dry_run_output.additional_properties = d
        return dry_run_output

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
