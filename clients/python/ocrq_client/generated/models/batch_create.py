from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.batch_create_output_format_type_0 import BatchCreateOutputFormatType0
from ..models.batch_create_output_format_type_0 import check_batch_create_output_format_type_0
from ..models.batch_create_output_format_type_1_item import BatchCreateOutputFormatType1Item
from ..models.batch_create_output_format_type_1_item import check_batch_create_output_format_type_1_item
from ..models.batch_create_target_lang_type_0 import BatchCreateTargetLangType0
from ..models.batch_create_target_lang_type_0 import check_batch_create_target_lang_type_0
from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.output_in import OutputIn
  from ..models.source_in import SourceIn


T = TypeVar("T", bound="BatchCreate")


@_attrs_define
class BatchCreate:
    """
        Attributes:
            output (OutputIn):
            source (SourceIn):
            dry_run (bool | Unset):  Default: False.
            dry_run_limit (int | Unset):  Default: 10000.
            fields (list[str] | None | Unset):
            instruction (None | str | Unset):
            output_format (BatchCreateOutputFormatType0 | list[BatchCreateOutputFormatType1Item] | Unset): what is written
                per item under the output prefix: <key>.json (json, the result, default), <key>.txt (text), <key>.md (markdown),
                <key>.hocr (hocr), <key>.pdf (pdf); one or a list. Without json, a small _done/<key>.json record replaces the
                result JSON (rerun dedup). Default: 'json'.
            target_lang (BatchCreateTargetLangType0 | None | Unset):
            task (str | Unset):  Default: 'text'.
            webhook_url (None | str | Unset):
            window (int | None | Unset): items in flight at once for this batch
     """

    output: OutputIn
    source: SourceIn
    dry_run: bool | Unset = False
    dry_run_limit: int | Unset = 10000
    fields: list[str] | None | Unset = UNSET
    instruction: None | str | Unset = UNSET
    output_format: BatchCreateOutputFormatType0 | list[BatchCreateOutputFormatType1Item] | Unset = 'json'
    target_lang: BatchCreateTargetLangType0 | None | Unset = UNSET
    task: str | Unset = 'text'
    webhook_url: None | str | Unset = UNSET
    window: int | None | Unset = UNSET


    def to_dict(self) -> dict[str, Any]:
        from ..models.output_in import OutputIn # noqa: PLC0415
        from ..models.source_in import SourceIn # noqa: PLC0415
        output = self.output.to_dict()

        source = self.source.to_dict()

        dry_run = self.dry_run

        dry_run_limit = self.dry_run_limit

        fields: list[str] | None | Unset
        if isinstance(self.fields, Unset):
            fields = UNSET
        elif isinstance(self.fields, list):
            fields = self.fields


        else:
            fields = self.fields

        instruction: None | str | Unset
        if isinstance(self.instruction, Unset):
            instruction = UNSET
        else:
            instruction = self.instruction

        output_format: list[str] | str | Unset
        if isinstance(self.output_format, Unset):
            output_format = UNSET
        elif isinstance(self.output_format, str):
            output_format = self.output_format
        else:
            output_format = []
            for output_format_type_1_item_data in self.output_format:
                output_format_type_1_item: str = output_format_type_1_item_data
                output_format.append(output_format_type_1_item)


        target_lang: None | str | Unset
        if isinstance(self.target_lang, Unset):
            target_lang = UNSET
        elif isinstance(self.target_lang, str):
            target_lang = self.target_lang
        else:
            target_lang = self.target_lang

        task = self.task

        webhook_url: None | str | Unset
        if isinstance(self.webhook_url, Unset):
            webhook_url = UNSET
        else:
            webhook_url = self.webhook_url

        window: int | None | Unset
        if isinstance(self.window, Unset):
            window = UNSET
        else:
            window = self.window


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "output": output,
            "source": source,
        })
        if dry_run is not UNSET:
            field_dict["dry_run"] = dry_run
        if dry_run_limit is not UNSET:
            field_dict["dry_run_limit"] = dry_run_limit
        if fields is not UNSET:
            field_dict["fields"] = fields
        if instruction is not UNSET:
            field_dict["instruction"] = instruction
        if output_format is not UNSET:
            field_dict["output_format"] = output_format
        if target_lang is not UNSET:
            field_dict["target_lang"] = target_lang
        if task is not UNSET:
            field_dict["task"] = task
        if webhook_url is not UNSET:
            field_dict["webhook_url"] = webhook_url
        if window is not UNSET:
            field_dict["window"] = window

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.output_in import OutputIn # noqa: PLC0415
        from ..models.source_in import SourceIn # noqa: PLC0415
        d = dict(src_dict)
        output = OutputIn.from_dict(d.pop("output"))


        source = SourceIn.from_dict(d.pop("source"))


        dry_run = d.pop("dry_run", UNSET)

        dry_run_limit = d.pop("dry_run_limit", UNSET)

        def _parse_fields(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                fields_type_0 = cast(list[str], data)

                return fields_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        fields = _parse_fields(d.pop("fields", UNSET))


        def _parse_instruction(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        instruction = _parse_instruction(d.pop("instruction", UNSET))


        def _parse_output_format(data: object) -> BatchCreateOutputFormatType0 | list[BatchCreateOutputFormatType1Item] | Unset:
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                output_format_type_0 = check_batch_create_output_format_type_0(data)


                return output_format_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, list):
                raise TypeError()
            output_format_type_1 = []
            _output_format_type_1 = data
            for output_format_type_1_item_data in (_output_format_type_1):
                output_format_type_1_item = check_batch_create_output_format_type_1_item(output_format_type_1_item_data)


                output_format_type_1.append(output_format_type_1_item)

            return output_format_type_1

        output_format = _parse_output_format(d.pop("output_format", UNSET))


        def _parse_target_lang(data: object) -> BatchCreateTargetLangType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                target_lang_type_0 = check_batch_create_target_lang_type_0(data)


                return target_lang_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(BatchCreateTargetLangType0 | None | Unset, data)

        target_lang = _parse_target_lang(d.pop("target_lang", UNSET))


        task = d.pop("task", UNSET)

        def _parse_webhook_url(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        webhook_url = _parse_webhook_url(d.pop("webhook_url", UNSET))


        def _parse_window(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        window = _parse_window(d.pop("window", UNSET))


        batch_create = cls(
            output=output,
            source=source,
            dry_run=dry_run,
            dry_run_limit=dry_run_limit,
            fields=fields,
            instruction=instruction,
            output_format=output_format,
            target_lang=target_lang,
            task=task,
            webhook_url=webhook_url,
            window=window,
        )

        return batch_create
