from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset


T = TypeVar("T", bound="Timings")


@_attrs_define
class Timings:
    """
        Attributes:
            fetch_ms (float | Unset):  Default: 0.0.
            infer_ms (float | Unset):  Default: 0.0.
            queued_ms (float | Unset):  Default: 0.0.
            total_ms (float | Unset):  Default: 0.0.
     """

    fetch_ms: float | Unset = 0.0
    infer_ms: float | Unset = 0.0
    queued_ms: float | Unset = 0.0
    total_ms: float | Unset = 0.0
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        fetch_ms = self.fetch_ms

        infer_ms = self.infer_ms

        queued_ms = self.queued_ms

        total_ms = self.total_ms


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
        })
        if fetch_ms is not UNSET:
            field_dict["fetch_ms"] = fetch_ms
        if infer_ms is not UNSET:
            field_dict["infer_ms"] = infer_ms
        if queued_ms is not UNSET:
            field_dict["queued_ms"] = queued_ms
        if total_ms is not UNSET:
            field_dict["total_ms"] = total_ms

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        fetch_ms = d.pop("fetch_ms", UNSET)

        infer_ms = d.pop("infer_ms", UNSET)

        queued_ms = d.pop("queued_ms", UNSET)

        total_ms = d.pop("total_ms", UNSET)

        timings = cls(
            fetch_ms=fetch_ms,
            infer_ms=infer_ms,
            queued_ms=queued_ms,
            total_ms=total_ms,
        )


        timings.additional_properties = d
        return timings

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
