from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast


T = TypeVar("T", bound="DeliveryEvent")


@_attrs_define
class DeliveryEvent:
    """
        Attributes:
            created_at (None | str): ISO 8601, UTC
            sequence (int):
            type_ (str):
            webhook_id (str):
     """

    created_at: None | str
    sequence: int
    type_: str
    webhook_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        created_at: None | str
        created_at = self.created_at

        sequence = self.sequence

        type_ = self.type_

        webhook_id = self.webhook_id


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "created_at": created_at,
            "sequence": sequence,
            "type": type_,
            "webhook_id": webhook_id,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_created_at(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        created_at = _parse_created_at(d.pop("created_at"))


        sequence = d.pop("sequence")

        type_ = d.pop("type")

        webhook_id = d.pop("webhook_id")

        delivery_event = cls(
            created_at=created_at,
            sequence=sequence,
            type_=type_,
            webhook_id=webhook_id,
        )


        delivery_event.additional_properties = d
        return delivery_event

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
