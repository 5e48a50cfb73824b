from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset


T = TypeVar("T", bound="BatchCounts")


@_attrs_define
class BatchCounts:
    """ Items by state, and pages beside them (a PDF/TIFF item counts its pages, an image one): pages_total as
    items are planned, pages_done/pages_failed as they finish, pages_skipped for items done before.

        Attributes:
            canceled (int):
            failed (int):
            pages_done (int):
            pages_failed (int):
            pages_skipped (int):
            pages_total (int):
            planned (int):
            queued (int):
            running (int):
            skipped (int):
            succeeded (int):
     """

    canceled: int
    failed: int
    pages_done: int
    pages_failed: int
    pages_skipped: int
    pages_total: int
    planned: int
    queued: int
    running: int
    skipped: int
    succeeded: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        canceled = self.canceled

        failed = self.failed

        pages_done = self.pages_done

        pages_failed = self.pages_failed

        pages_skipped = self.pages_skipped

        pages_total = self.pages_total

        planned = self.planned

        queued = self.queued

        running = self.running

        skipped = self.skipped

        succeeded = self.succeeded


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "canceled": canceled,
            "failed": failed,
            "pages_done": pages_done,
            "pages_failed": pages_failed,
            "pages_skipped": pages_skipped,
            "pages_total": pages_total,
            "planned": planned,
            "queued": queued,
            "running": running,
            "skipped": skipped,
            "succeeded": succeeded,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        canceled = d.pop("canceled")

        failed = d.pop("failed")

        pages_done = d.pop("pages_done")

        pages_failed = d.pop("pages_failed")

        pages_skipped = d.pop("pages_skipped")

        pages_total = d.pop("pages_total")

        planned = d.pop("planned")

        queued = d.pop("queued")

        running = d.pop("running")

        skipped = d.pop("skipped")

        succeeded = d.pop("succeeded")

        batch_counts = cls(
            canceled=canceled,
            failed=failed,
            pages_done=pages_done,
            pages_failed=pages_failed,
            pages_skipped=pages_skipped,
            pages_total=pages_total,
            planned=planned,
            queued=queued,
            running=running,
            skipped=skipped,
            succeeded=succeeded,
        )


        batch_counts.additional_properties = d
        return batch_counts

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
