from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.dry_run_failure import DryRunFailure


T = TypeVar("T", bound="DryRunSamples")


@_attrs_define
class DryRunSamples:
    """
        Attributes:
            fail (list[DryRunFailure]):
            run (list[str]):
            skip (list[str]):
     """

    fail: list[DryRunFailure]
    run: list[str]
    skip: list[str]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.dry_run_failure import DryRunFailure # noqa: PLC0415
        fail = []
        for fail_item_data in self.fail:
            fail_item = fail_item_data.to_dict()
            fail.append(fail_item)


        run = self.run


        skip = self.skip


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "fail": fail,
            "run": run,
            "skip": skip,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.dry_run_failure import DryRunFailure # noqa: PLC0415
        d = dict(src_dict)
        fail = []
        _fail = d.pop("fail")
        for fail_item_data in (_fail):
            fail_item = DryRunFailure.from_dict(fail_item_data)


            fail.append(fail_item)


        run = cast(list[str], d.pop("run"))


        skip = cast(list[str], d.pop("skip"))


        dry_run_samples = cls(
            fail=fail,
            run=run,
            skip=skip,
        )


        dry_run_samples.additional_properties = d
        return dry_run_samples

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
