from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.batch_counts import BatchCounts
  from ..models.batch_links import BatchLinks
  from ..models.batch_out_params import BatchOutParams
  from ..models.batch_output import BatchOutput
  from ..models.batch_source import BatchSource


T = TypeVar("T", bound="BatchOut")


@_attrs_define
class BatchOut:
    """
        Attributes:
            average_items_per_s (float):
            counts (BatchCounts): Items by state, and pages beside them (a PDF/TIFF item counts its pages, an image one):
                pages_total as
                items are planned, pages_done/pages_failed as they finish, pages_skipped for items done before.
            created_at (None | str):
            done (int):
            eta_s (float | None):
            finished_at (None | str):
            id (str):
            links (BatchLinks):
            listing_done (bool):
            output (BatchOutput):
            params (BatchOutParams):
            source (BatchSource):
            status (str):
            task (str):
            throughput_items_per_s (float):
            total (int | None):
            webhook_url (None | str):
            window (int):
     """

    average_items_per_s: float
    counts: BatchCounts
    created_at: None | str
    done: int
    eta_s: float | None
    finished_at: None | str
    id: str
    links: BatchLinks
    listing_done: bool
    output: BatchOutput
    params: BatchOutParams
    source: BatchSource
    status: str
    task: str
    throughput_items_per_s: float
    total: int | None
    webhook_url: None | str
    window: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.batch_counts import BatchCounts # noqa: PLC0415
        from ..models.batch_links import BatchLinks # noqa: PLC0415
        from ..models.batch_out_params import BatchOutParams # noqa: PLC0415
        from ..models.batch_output import BatchOutput # noqa: PLC0415
        from ..models.batch_source import BatchSource # noqa: PLC0415
        average_items_per_s = self.average_items_per_s

        counts = self.counts.to_dict()

        created_at: None | str
        created_at = self.created_at

        done = self.done

        eta_s: float | None
        eta_s = self.eta_s

        finished_at: None | str
        finished_at = self.finished_at

        id = self.id

        links = self.links.to_dict()

        listing_done = self.listing_done

        output = self.output.to_dict()

        params = self.params.to_dict()

        source = self.source.to_dict()

        status = self.status

        task = self.task

        throughput_items_per_s = self.throughput_items_per_s

        total: int | None
        total = self.total

        webhook_url: None | str
        webhook_url = self.webhook_url

        window = self.window


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "average_items_per_s": average_items_per_s,
            "counts": counts,
            "created_at": created_at,
            "done": done,
            "eta_s": eta_s,
            "finished_at": finished_at,
            "id": id,
            "links": links,
            "listing_done": listing_done,
            "output": output,
            "params": params,
            "source": source,
            "status": status,
            "task": task,
            "throughput_items_per_s": throughput_items_per_s,
            "total": total,
            "webhook_url": webhook_url,
            "window": window,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.batch_counts import BatchCounts # noqa: PLC0415
        from ..models.batch_links import BatchLinks # noqa: PLC0415
        from ..models.batch_out_params import BatchOutParams # noqa: PLC0415
        from ..models.batch_output import BatchOutput # noqa: PLC0415
        from ..models.batch_source import BatchSource # noqa: PLC0415
        d = dict(src_dict)
        average_items_per_s = d.pop("average_items_per_s")

        counts = BatchCounts.from_dict(d.pop("counts"))


        def _parse_created_at(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        created_at = _parse_created_at(d.pop("created_at"))


        done = d.pop("done")

        def _parse_eta_s(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        eta_s = _parse_eta_s(d.pop("eta_s"))


        def _parse_finished_at(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        finished_at = _parse_finished_at(d.pop("finished_at"))


        id = d.pop("id")

        links = BatchLinks.from_dict(d.pop("links"))


        listing_done = d.pop("listing_done")

        output = BatchOutput.from_dict(d.pop("output"))


        params = BatchOutParams.from_dict(d.pop("params"))


        source = BatchSource.from_dict(d.pop("source"))


        status = d.pop("status")

        task = d.pop("task")

        throughput_items_per_s = d.pop("throughput_items_per_s")

        def _parse_total(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        total = _parse_total(d.pop("total"))


        def _parse_webhook_url(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        webhook_url = _parse_webhook_url(d.pop("webhook_url"))


        window = d.pop("window")

        batch_out = cls(
            average_items_per_s=average_items_per_s,
            counts=counts,
            created_at=created_at,
            done=done,
            eta_s=eta_s,
            finished_at=finished_at,
            id=id,
            links=links,
            listing_done=listing_done,
            output=output,
            params=params,
            source=source,
            status=status,
            task=task,
            throughput_items_per_s=throughput_items_per_s,
            total=total,
            webhook_url=webhook_url,
            window=window,
        )


        batch_out.additional_properties = d
        return batch_out

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
