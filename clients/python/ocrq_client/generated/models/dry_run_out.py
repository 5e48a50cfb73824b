from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
  from ..models.batch_source import BatchSource
  from ..models.dry_run_output import DryRunOutput
  from ..models.dry_run_samples import DryRunSamples


T = TypeVar("T", bound="DryRunOut")


@_attrs_define
class DryRunOut:
    """ What a batch would do, listed and classified without queueing or writing anything.

        Attributes:
            dry_run (bool):
            engine (str):
            engine_version (None | str):
            listed (int):
            note (None | str):
            output (DryRunOutput):
            samples (DryRunSamples):
            source (BatchSource):
            total (int | None):
            truncated (bool):
            would_fail (int):
            would_run (int):
            would_skip (int):
     """

    dry_run: bool
    engine: str
    engine_version: None | str
    listed: int
    note: None | str
    output: DryRunOutput
    samples: DryRunSamples
    source: BatchSource
    total: int | None
    truncated: bool
    would_fail: int
    would_run: int
    would_skip: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.batch_source import BatchSource # noqa: PLC0415
        from ..models.dry_run_output import DryRunOutput # noqa: PLC0415
        from ..models.dry_run_samples import DryRunSamples # noqa: PLC0415
        dry_run = self.dry_run

        engine = self.engine

        engine_version: None | str
        engine_version = self.engine_version

        listed = self.listed

        note: None | str
        note = self.note

        output = self.output.to_dict()

        samples = self.samples.to_dict()

        source = self.source.to_dict()

        total: int | None
        total = self.total

        truncated = self.truncated

        would_fail = self.would_fail

        would_run = self.would_run

        would_skip = self.would_skip


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "dry_run": dry_run,
            "engine": engine,
            "engine_version": engine_version,
            "listed": listed,
            "note": note,
            "output": output,
            "samples": samples,
            "source": source,
            "total": total,
            "truncated": truncated,
            "would_fail": would_fail,
            "would_run": would_run,
            "would_skip": would_skip,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.batch_source import BatchSource # noqa: PLC0415
        from ..models.dry_run_output import DryRunOutput # noqa: PLC0415
        from ..models.dry_run_samples import DryRunSamples # noqa: PLC0415
        d = dict(src_dict)
        dry_run = d.pop("dry_run")

        engine = d.pop("engine")

        def _parse_engine_version(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        engine_version = _parse_engine_version(d.pop("engine_version"))


        listed = d.pop("listed")

        def _parse_note(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        note = _parse_note(d.pop("note"))


        output = DryRunOutput.from_dict(d.pop("output"))


        samples = DryRunSamples.from_dict(d.pop("samples"))


        source = BatchSource.from_dict(d.pop("source"))


        def _parse_total(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        total = _parse_total(d.pop("total"))


        truncated = d.pop("truncated")

        would_fail = d.pop("would_fail")

        would_run = d.pop("would_run")

        would_skip = d.pop("would_skip")

        dry_run_out = cls(
            dry_run=dry_run,
            engine=engine,
            engine_version=engine_version,
            listed=listed,
            note=note,
            output=output,
            samples=samples,
            source=source,
            total=total,
            truncated=truncated,
            would_fail=would_fail,
            would_run=would_run,
            would_skip=would_skip,
        )


        dry_run_out.additional_properties = d
        return dry_run_out

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
