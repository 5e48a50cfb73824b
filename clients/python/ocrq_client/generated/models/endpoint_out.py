from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.endpoint_out_events_item import check_endpoint_out_events_item
from ..models.endpoint_out_events_item import EndpointOutEventsItem
from ..types import UNSET, Unset
from typing import cast


T = TypeVar("T", bound="EndpointOut")


@_attrs_define
class EndpointOut:
    """
        Attributes:
            created_at (None | str): ISO 8601, UTC
            description (str):
            disabled (bool):
            disabled_at (None | str): ISO 8601, UTC
            disabled_reason (None | str):
            events (list[EndpointOutEventsItem]):
            id (str):
            secret_rotation_ends_at (None | str): ISO 8601, UTC
            url (str):
            secret (str | Unset): Only in the answers that create or rotate it Default: ''.
     """

    created_at: None | str
    description: str
    disabled: bool
    disabled_at: None | str
    disabled_reason: None | str
    events: list[EndpointOutEventsItem]
    id: str
    secret_rotation_ends_at: None | str
    url: str
    secret: str | Unset = ''
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        created_at: None | str
        created_at = self.created_at

        description = self.description

        disabled = self.disabled

        disabled_at: None | str
        disabled_at = self.disabled_at

        disabled_reason: None | str
        disabled_reason = self.disabled_reason

        events = []
        for events_item_data in self.events:
            events_item: str = events_item_data
            events.append(events_item)


        id = self.id

        secret_rotation_ends_at: None | str
        secret_rotation_ends_at = self.secret_rotation_ends_at

        url = self.url

        secret = self.secret


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "created_at": created_at,
            "description": description,
            "disabled": disabled,
            "disabled_at": disabled_at,
            "disabled_reason": disabled_reason,
            "events": events,
            "id": id,
            "secret_rotation_ends_at": secret_rotation_ends_at,
            "url": url,
        })
        if secret is not UNSET:
            field_dict["secret"] = secret

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        def _parse_created_at(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        created_at = _parse_created_at(d.pop("created_at"))


        description = d.pop("description")

        disabled = d.pop("disabled")

        def _parse_disabled_at(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        disabled_at = _parse_disabled_at(d.pop("disabled_at"))


        def _parse_disabled_reason(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        disabled_reason = _parse_disabled_reason(d.pop("disabled_reason"))


        events = []
        _events = d.pop("events")
        for events_item_data in (_events):
            events_item = check_endpoint_out_events_item(events_item_data)


            events.append(events_item)


        id = d.pop("id")

        def _parse_secret_rotation_ends_at(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        secret_rotation_ends_at = _parse_secret_rotation_ends_at(d.pop("secret_rotation_ends_at"))


        url = d.pop("url")

        secret = d.pop("secret", UNSET)

        endpoint_out = cls(
            created_at=created_at,
            description=description,
            disabled=disabled,
            disabled_at=disabled_at,
            disabled_reason=disabled_reason,
            events=events,
            id=id,
            secret_rotation_ends_at=secret_rotation_ends_at,
            url=url,
            secret=secret,
        )


        endpoint_out.additional_properties = d
        return endpoint_out

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
