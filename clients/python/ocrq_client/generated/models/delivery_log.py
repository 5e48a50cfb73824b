from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.delivery import Delivery
  from ..models.delivery_event import DeliveryEvent
  from ..models.delivery_log_attempts_item import DeliveryLogAttemptsItem


T = TypeVar("T", bound="DeliveryLog")


@_attrs_define
class DeliveryLog:
    """
        Attributes:
            attempts (list[DeliveryLogAttemptsItem]): Every attempt: time, endpoint, status code, latency, error
            deliveries (list[Delivery]):
            events (list[DeliveryEvent]):
            job_id (str):
     """

    attempts: list[DeliveryLogAttemptsItem]
    deliveries: list[Delivery]
    events: list[DeliveryEvent]
    job_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.delivery import Delivery # noqa: PLC0415
        from ..models.delivery_event import DeliveryEvent # noqa: PLC0415
        from ..models.delivery_log_attempts_item import DeliveryLogAttemptsItem # noqa: PLC0415
        attempts = []
        for attempts_item_data in self.attempts:
            attempts_item = attempts_item_data.to_dict()
            attempts.append(attempts_item)


        deliveries = []
        for deliveries_item_data in self.deliveries:
            deliveries_item = deliveries_item_data.to_dict()
            deliveries.append(deliveries_item)


        events = []
        for events_item_data in self.events:
            events_item = events_item_data.to_dict()
            events.append(events_item)


        job_id = self.job_id


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "attempts": attempts,
            "deliveries": deliveries,
            "events": events,
            "job_id": job_id,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.delivery import Delivery # noqa: PLC0415
        from ..models.delivery_event import DeliveryEvent # noqa: PLC0415
        from ..models.delivery_log_attempts_item import DeliveryLogAttemptsItem # noqa: PLC0415
        d = dict(src_dict)
        attempts = []
        _attempts = d.pop("attempts")
        for attempts_item_data in (_attempts):
            attempts_item = DeliveryLogAttemptsItem.from_dict(attempts_item_data)


            attempts.append(attempts_item)


        deliveries = []
        _deliveries = d.pop("deliveries")
        for deliveries_item_data in (_deliveries):
            deliveries_item = Delivery.from_dict(deliveries_item_data)


            deliveries.append(deliveries_item)


        events = []
        _events = d.pop("events")
        for events_item_data in (_events):
            events_item = DeliveryEvent.from_dict(events_item_data)


            events.append(events_item)


        job_id = d.pop("job_id")

        delivery_log = cls(
            attempts=attempts,
            deliveries=deliveries,
            events=events,
            job_id=job_id,
        )


        delivery_log.additional_properties = d
        return delivery_log

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
