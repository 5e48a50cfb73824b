from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.source_in_manifest_format_type_0 import check_source_in_manifest_format_type_0
from ..models.source_in_manifest_format_type_0 import SourceInManifestFormatType0
from ..types import UNSET, Unset
from typing import cast


T = TypeVar("T", bound="SourceIn")


@_attrs_define
class SourceIn:
    """
        Attributes:
            bucket (str):
            glob (None | str | Unset):
            manifest (None | str | Unset): key of a JSONL or CSV manifest in the bucket
            manifest_format (None | SourceInManifestFormatType0 | Unset):
            manifest_text (None | str | Unset): the manifest itself (JSONL or CSV), stored by the gateway
            prefix (None | str | Unset):
     """

    bucket: str
    glob: None | str | Unset = UNSET
    manifest: None | str | Unset = UNSET
    manifest_format: None | SourceInManifestFormatType0 | Unset = UNSET
    manifest_text: None | str | Unset = UNSET
    prefix: None | str | Unset = UNSET


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

        manifest_format: None | str | Unset
        if isinstance(self.manifest_format, Unset):
            manifest_format = UNSET
        elif isinstance(self.manifest_format, str):
            manifest_format = self.manifest_format
        else:
            manifest_format = self.manifest_format

        manifest_text: None | str | Unset
        if isinstance(self.manifest_text, Unset):
            manifest_text = UNSET
        else:
            manifest_text = self.manifest_text

        prefix: None | str | Unset
        if isinstance(self.prefix, Unset):
            prefix = UNSET
        else:
            prefix = self.prefix


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "bucket": bucket,
        })
        if glob is not UNSET:
            field_dict["glob"] = glob
        if manifest is not UNSET:
            field_dict["manifest"] = manifest
        if manifest_format is not UNSET:
            field_dict["manifest_format"] = manifest_format
        if manifest_text is not UNSET:
            field_dict["manifest_text"] = manifest_text
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


        def _parse_manifest_format(data: object) -> None | SourceInManifestFormatType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                manifest_format_type_0 = check_source_in_manifest_format_type_0(data)


                return manifest_format_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | SourceInManifestFormatType0 | Unset, data)

        manifest_format = _parse_manifest_format(d.pop("manifest_format", UNSET))


        def _parse_manifest_text(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        manifest_text = _parse_manifest_text(d.pop("manifest_text", UNSET))


        def _parse_prefix(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        prefix = _parse_prefix(d.pop("prefix", UNSET))


        source_in = cls(
            bucket=bucket,
            glob=glob,
            manifest=manifest,
            manifest_format=manifest_format,
            manifest_text=manifest_text,
            prefix=prefix,
        )

        return source_in
