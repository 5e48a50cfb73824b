from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.export_out_records_item import ExportOutRecordsItem


T = TypeVar("T", bound="ExportOut")


@_attrs_define
class ExportOut:
    """
        Attributes:
            count (int):
            format_ (str): the record layout: sharegpt (LLaMA-Factory multimodal; ms-swift)
            records (list[ExportOutRecordsItem]): one per approved or corrected image job; `images` name files the client
                writes from each record's links.image
     """

    count: int
    format_: str
    records: list[ExportOutRecordsItem]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.export_out_records_item import ExportOutRecordsItem # noqa: PLC0415
        count = self.count

        format_ = self.format_

        records = []
        for records_item_data in self.records:
            records_item = records_item_data.to_dict()
            records.append(records_item)


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "count": count,
            "format": format_,
            "records": records,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.export_out_records_item import ExportOutRecordsItem # noqa: PLC0415
        d = dict(src_dict)
        count = d.pop("count")

        format_ = d.pop("format")

        records = []
        _records = d.pop("records")
        for records_item_data in (_records):
            records_item = ExportOutRecordsItem.from_dict(records_item_data)


            records.append(records_item)


        export_out = cls(
            count=count,
            format_=format_,
            records=records,
        )


        export_out.additional_properties = d
        return export_out

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
