from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.endpoint_create_events_item import check_endpoint_create_events_item
from ..models.endpoint_create_events_item import EndpointCreateEventsItem
from ..types import UNSET, Unset
from typing import cast


T = TypeVar("T", bound="EndpointCreate")


@_attrs_define
class EndpointCreate:
    """
        Attributes:
            url (str):
            description (None | str | Unset):  Default: ''.
            events (list[EndpointCreateEventsItem] | Unset): the event types to send (default: every type but the per-item
                batch.item.* of backfills)
     """

    url: str
    description: None | str | Unset = ''
    events: list[EndpointCreateEventsItem] | Unset = UNSET


    def to_dict(self) -> dict[str, Any]:
        url = self.url

        description: None | str | Unset
        if isinstance(self.description, Unset):
            description = UNSET
        else:
            description = self.description

        events: list[str] | Unset = UNSET
        if not isinstance(self.events, Unset):
            events = []
            for events_item_data in self.events:
                events_item: str = events_item_data
                events.append(events_item)


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "url": url,
        })
        if description is not UNSET:
            field_dict["description"] = description
        if events is not UNSET:
            field_dict["events"] = events

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        url = d.pop("url")

        def _parse_description(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        description = _parse_description(d.pop("description", UNSET))


        _events = d.pop("events", UNSET)
        events: list[EndpointCreateEventsItem] | Unset = UNSET
        if _events is not UNSET:
            events = []
            for events_item_data in _events:
                events_item = check_endpoint_create_events_item(events_item_data)


                events.append(events_item)


        endpoint_create = cls(
            url=url,
            description=description,
            events=events,
        )

        return endpoint_create
