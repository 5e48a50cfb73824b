from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast


T = TypeVar("T", bound="BatchFailure")


@_attrs_define
class BatchFailure:
    """ A failed item (shared.batches.accounting.failure_json).

        Attributes:
            code (str):
            key (str):
            message (str):
            at (int | None | Unset): when it failed, epoch ms
            line (int | None | Unset):
            metadata (Any | Unset):
            pages (int | None | Unset): documents: the pages it counted
            pages_failed (int | None | Unset):
            retryable (bool | None | Unset):
            sha256 (None | str | Unset):
     """

    code: str
    key: str
    message: str
    at: int | None | Unset = UNSET
    line: int | None | Unset = UNSET
    metadata: Any | Unset = UNSET
    pages: int | None | Unset = UNSET
    pages_failed: int | None | Unset = UNSET
    retryable: bool | None | Unset = UNSET
    sha256: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        code = self.code

        key = self.key

        message = self.message

        at: int | None | Unset
        if isinstance(self.at, Unset):
            at = UNSET
        else:
            at = self.at

        line: int | None | Unset
        if isinstance(self.line, Unset):
            line = UNSET
        else:
            line = self.line

        metadata = self.metadata

        pages: int | None | Unset
        if isinstance(self.pages, Unset):
            pages = UNSET
        else:
            pages = self.pages

        pages_failed: int | None | Unset
        if isinstance(self.pages_failed, Unset):
            pages_failed = UNSET
        else:
            pages_failed = self.pages_failed

        retryable: bool | None | Unset
        if isinstance(self.retryable, Unset):
            retryable = UNSET
        else:
            retryable = self.retryable

        sha256: None | str | Unset
        if isinstance(self.sha256, Unset):
            sha256 = UNSET
        else:
            sha256 = self.sha256


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "code": code,
            "key": key,
            "message": message,
        })
        if at is not UNSET:
            field_dict["at"] = at
        if line is not UNSET:
            field_dict["line"] = line
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if pages is not UNSET:
            field_dict["pages"] = pages
        if pages_failed is not UNSET:
            field_dict["pages_failed"] = pages_failed
        if retryable is not UNSET:
            field_dict["retryable"] = retryable
        if sha256 is not UNSET:
            field_dict["sha256"] = sha256

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        code = d.pop("code")

        key = d.pop("key")

        message = d.pop("message")

        def _parse_at(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        at = _parse_at(d.pop("at", UNSET))


        def _parse_line(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        line = _parse_line(d.pop("line", UNSET))


        metadata = d.pop("metadata", UNSET)

        def _parse_pages(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        pages = _parse_pages(d.pop("pages", UNSET))


        def _parse_pages_failed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        pages_failed = _parse_pages_failed(d.pop("pages_failed", UNSET))


        def _parse_retryable(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        retryable = _parse_retryable(d.pop("retryable", UNSET))


        def _parse_sha256(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        sha256 = _parse_sha256(d.pop("sha256", UNSET))


        batch_failure = cls(
            code=code,
            key=key,
            message=message,
            at=at,
            line=line,
            metadata=metadata,
            pages=pages,
            pages_failed=pages_failed,
            retryable=retryable,
            sha256=sha256,
        )


        batch_failure.additional_properties = d
        return batch_failure

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
