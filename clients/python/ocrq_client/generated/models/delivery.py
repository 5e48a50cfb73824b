from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.delivery_target import check_delivery_target
from ..models.delivery_target import DeliveryTarget
from typing import cast


T = TypeVar("T", bound="Delivery")


@_attrs_define
class Delivery:
    """
        Attributes:
            attempts (int):
            delivered_at (None | str): ISO 8601, UTC
            endpoint_id (None | str): none for the job's own webhook_url
            last_error (None | str):
            last_status_code (int | None):
            next_attempt_at (None | str): ISO 8601, UTC
            status (None | str):
            target (DeliveryTarget):
            type_ (str):
            url (None | str):
            webhook_id (str):
     """

    attempts: int
    delivered_at: None | str
    endpoint_id: None | str
    last_error: None | str
    last_status_code: int | None
    next_attempt_at: None | str
    status: None | str
    target: DeliveryTarget
    type_: str
    url: None | str
    webhook_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        attempts = self.attempts

        delivered_at: None | str
        delivered_at = self.delivered_at

        endpoint_id: None | str
        endpoint_id = self.endpoint_id

        last_error: None | str
        last_error = self.last_error

        last_status_code: int | None
        last_status_code = self.last_status_code

        next_attempt_at: None | str
        next_attempt_at = self.next_attempt_at

        status: None | str
        status = self.status

        target: str = self.target

        type_ = self.type_

        url: None | str
        url = self.url

        webhook_id = self.webhook_id


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "attempts": attempts,
            "delivered_at": delivered_at,
            "endpoint_id": endpoint_id,
            "last_error": last_error,
            "last_status_code": last_status_code,
            "next_attempt_at": next_attempt_at,
            "status": status,
            "target": target,
            "type": type_,
            "url": url,
            "webhook_id": webhook_id,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        attempts = d.pop("attempts")

        def _parse_delivered_at(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        delivered_at = _parse_delivered_at(d.pop("delivered_at"))


        def _parse_endpoint_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        endpoint_id = _parse_endpoint_id(d.pop("endpoint_id"))


        def _parse_last_error(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        last_error = _parse_last_error(d.pop("last_error"))


        def _parse_last_status_code(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        last_status_code = _parse_last_status_code(d.pop("last_status_code"))


        def _parse_next_attempt_at(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        next_attempt_at = _parse_next_attempt_at(d.pop("next_attempt_at"))


        def _parse_status(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        status = _parse_status(d.pop("status"))


        target = check_delivery_target(d.pop("target"))


        type_ = d.pop("type")

        def _parse_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        url = _parse_url(d.pop("url"))


        webhook_id = d.pop("webhook_id")

        delivery = cls(
            attempts=attempts,
            delivered_at=delivered_at,
            endpoint_id=endpoint_id,
            last_error=last_error,
            last_status_code=last_status_code,
            next_attempt_at=next_attempt_at,
            status=status,
            target=target,
            type_=type_,
            url=url,
            webhook_id=webhook_id,
        )


        delivery.additional_properties = d
        return delivery

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
