from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast


T = TypeVar("T", bound="BatchSource")


@_attrs_define
class BatchSource:
    """
        Attributes:
            bucket (str):
            glob (None | str | Unset): only when given
            manifest (None | str | Unset): a manifest source: its key (absent for a prefix)
            prefix (None | str | Unset): a prefix source (absent for a manifest)
     """

    bucket: str
    glob: None | str | Unset = UNSET
    manifest: None | str | Unset = UNSET
    prefix: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        bucket = self.bucket

        glob: None | str | Unset
        if isinstance(self.glob, Unset):
            glob = UNSET
        else:
            glob = self.glob

        manifest: None | str | Unset
        if isinstance(self.manifest, Unset):
            manifest = UNSET
        else:
            manifest = self.manifest

        prefix: None | str | Unset
        if isinstance(self.prefix, Unset):
            prefix = UNSET
        else:
            prefix = self.prefix


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "bucket": bucket,
        })
        if glob is not UNSET:
            field_dict["glob"] = glob
        if manifest is not UNSET:
            field_dict["manifest"] = manifest
        if prefix is not UNSET:
            field_dict["prefix"] = prefix

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        bucket = d.pop("bucket")

        def _parse_glob(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        glob = _parse_glob(d.pop("glob", UNSET))


        def _parse_manifest(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        manifest = _parse_manifest(d.pop("manifest", UNSET))


        def _parse_prefix(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        prefix = _parse_prefix(d.pop("prefix", UNSET))


        batch_source = cls(
            bucket=bucket,
            glob=glob,
            manifest=manifest,
            prefix=prefix,
        )


        batch_source.additional_properties = d
        return batch_source

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
