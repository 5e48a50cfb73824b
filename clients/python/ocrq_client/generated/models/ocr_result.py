from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.engine_info import EngineInfo
  from ..models.image_size import ImageSize
  from ..models.line import Line
  from ..models.ocr_result_barcodes_type_0_item import OcrResultBarcodesType0Item
  from ..models.ocr_result_fields_type_0 import OcrResultFieldsType0
  from ..models.page_result import PageResult
  from ..models.timings import Timings


T = TypeVar("T", bound="OcrResult")


@_attrs_define
class OcrResult:
    """
        Attributes:
            engine (EngineInfo):
            image (ImageSize):
            task (str):
            text (str):
            barcodes (list[OcrResultBarcodesType0Item] | None | Unset):
            fields (None | OcrResultFieldsType0 | Unset):
            lines (list[Line] | Unset):
            markdown (None | str | Unset):
            needs_review (bool | Unset):  Default: False.
            pages (list[PageResult] | None | Unset):
            pages_failed (int | None | Unset):
            raw (None | str | Unset):
            review_reasons (list[str] | None | Unset):
            reviewed (bool | None | Unset):
            revision (int | None | Unset):
            timings (Timings | Unset):
            truncated (bool | Unset):  Default: False.
     """

    engine: EngineInfo
    image: ImageSize
    task: str
    text: str
    barcodes: list[OcrResultBarcodesType0Item] | None | Unset = UNSET
    fields: None | OcrResultFieldsType0 | Unset = UNSET
    lines: list[Line] | Unset = UNSET
    markdown: None | str | Unset = UNSET
    needs_review: bool | Unset = False
    pages: list[PageResult] | None | Unset = UNSET
    pages_failed: int | None | Unset = UNSET
    raw: None | str | Unset = UNSET
    review_reasons: list[str] | None | Unset = UNSET
    reviewed: bool | None | Unset = UNSET
    revision: int | None | Unset = UNSET
    timings: Timings | Unset = UNSET
    truncated: bool | Unset = False
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.engine_info import EngineInfo # noqa: PLC0415
        from ..models.image_size import ImageSize # noqa: PLC0415
        from ..models.line import Line # noqa: PLC0415
        from ..models.ocr_result_barcodes_type_0_item import OcrResultBarcodesType0Item # noqa: PLC0415
        from ..models.ocr_result_fields_type_0 import OcrResultFieldsType0 # noqa: PLC0415
        from ..models.page_result import PageResult # noqa: PLC0415
        from ..models.timings import Timings # noqa: PLC0415
        engine = self.engine.to_dict()

        image = self.image.to_dict()

        task = self.task

        text = self.text

        barcodes: list[dict[str, Any]] | None | Unset
        if isinstance(self.barcodes, Unset):
            barcodes = UNSET
        elif isinstance(self.barcodes, list):
            barcodes = []
            for barcodes_type_0_item_data in self.barcodes:
                barcodes_type_0_item = barcodes_type_0_item_data.to_dict()
                barcodes.append(barcodes_type_0_item)


        else:
            barcodes = self.barcodes

        fields: dict[str, Any] | None | Unset
        if isinstance(self.fields, Unset):
            fields = UNSET
        elif isinstance(self.fields, OcrResultFieldsType0):
            fields = self.fields.to_dict()
        else:
            fields = self.fields

        lines: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.lines, Unset):
            lines = []
            for lines_item_data in self.lines:
                lines_item = lines_item_data.to_dict()
                lines.append(lines_item)


        markdown: None | str | Unset
        if isinstance(self.markdown, Unset):
            markdown = UNSET
        else:
            markdown = self.markdown

        needs_review = self.needs_review

        pages: list[dict[str, Any]] | None | Unset
        if isinstance(self.pages, Unset):
            pages = UNSET
        elif isinstance(self.pages, list):
            pages = []
            for pages_type_0_item_data in self.pages:
                pages_type_0_item = pages_type_0_item_data.to_dict()
                pages.append(pages_type_0_item)


        else:
            pages = self.pages

        pages_failed: int | None | Unset
        if isinstance(self.pages_failed, Unset):
            pages_failed = UNSET
        else:
            pages_failed = self.pages_failed

        raw: None | str | Unset
        if isinstance(self.raw, Unset):
            raw = UNSET
        else:
            raw = self.raw

        review_reasons: list[str] | None | Unset
        if isinstance(self.review_reasons, Unset):
            review_reasons = UNSET
        elif isinstance(self.review_reasons, list):
            review_reasons = self.review_reasons


        else:
            review_reasons = self.review_reasons

        reviewed: bool | None | Unset
        if isinstance(self.reviewed, Unset):
            reviewed = UNSET
        else:
            reviewed = self.reviewed

        revision: int | None | Unset
        if isinstance(self.revision, Unset):
            revision = UNSET
        else:
            revision = self.revision

        timings: dict[str, Any] | Unset = UNSET
        if not isinstance(self.timings, Unset):
            timings = self.timings.to_dict()

        truncated = self.truncated


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "engine": engine,
            "image": image,
            "task": task,
            "text": text,
        })
        if barcodes is not UNSET:
            field_dict["barcodes"] = barcodes
        if fields is not UNSET:
            field_dict["fields"] = fields
        if lines is not UNSET:
            field_dict["lines"] = lines
        if markdown is not UNSET:
            field_dict["markdown"] = markdown
        if needs_review is not UNSET:
            field_dict["needs_review"] = needs_review
        if pages is not UNSET:
            field_dict["pages"] = pages
        if pages_failed is not UNSET:
            field_dict["pages_failed"] = pages_failed
        if raw is not UNSET:
            field_dict["raw"] = raw
        if review_reasons is not UNSET:
            field_dict["review_reasons"] = review_reasons
        if reviewed is not UNSET:
            field_dict["reviewed"] = reviewed
        if revision is not UNSET:
            field_dict["revision"] = revision
        if timings is not UNSET:
            field_dict["timings"] = timings
        if truncated is not UNSET:
            field_dict["truncated"] = truncated

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.engine_info import EngineInfo # noqa: PLC0415
        from ..models.image_size import ImageSize # noqa: PLC0415
        from ..models.line import Line # noqa: PLC0415
        from ..models.ocr_result_barcodes_type_0_item import OcrResultBarcodesType0Item # noqa: PLC0415
        from ..models.ocr_result_fields_type_0 import OcrResultFieldsType0 # noqa: PLC0415
        from ..models.page_result import PageResult # noqa: PLC0415
        from ..models.timings import Timings # noqa: PLC0415
        d = dict(src_dict)
        engine = EngineInfo.from_dict(d.pop("engine"))


        image = ImageSize.from_dict(d.pop("image"))


        task = d.pop("task")

        text = d.pop("text")

        def _parse_barcodes(data: object) -> list[OcrResultBarcodesType0Item] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                barcodes_type_0 = []
                _barcodes_type_0 = data
                for barcodes_type_0_item_data in (_barcodes_type_0):
                    barcodes_type_0_item = OcrResultBarcodesType0Item.from_dict(barcodes_type_0_item_data)


                    barcodes_type_0.append(barcodes_type_0_item)

                return barcodes_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[OcrResultBarcodesType0Item] | None | Unset, data)

        barcodes = _parse_barcodes(d.pop("barcodes", UNSET))


        def _parse_fields(data: object) -> None | OcrResultFieldsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                fields_type_0 = OcrResultFieldsType0.from_dict(data)


                return fields_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OcrResultFieldsType0 | Unset, data)

        fields = _parse_fields(d.pop("fields", UNSET))


        _lines = d.pop("lines", UNSET)
        lines: list[Line] | Unset = UNSET
        if _lines is not UNSET:
            lines = []
            for lines_item_data in _lines:
                lines_item = Line.from_dict(lines_item_data)


                lines.append(lines_item)


        def _parse_markdown(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        markdown = _parse_markdown(d.pop("markdown", UNSET))


        needs_review = d.pop("needs_review", UNSET)

        def _parse_pages(data: object) -> list[PageResult] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                pages_type_0 = []
                _pages_type_0 = data
                for pages_type_0_item_data in (_pages_type_0):
                    pages_type_0_item = PageResult.from_dict(pages_type_0_item_data)


                    pages_type_0.append(pages_type_0_item)

                return pages_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[PageResult] | None | Unset, data)

        pages = _parse_pages(d.pop("pages", UNSET))


        def _parse_pages_failed(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        pages_failed = _parse_pages_failed(d.pop("pages_failed", UNSET))


        def _parse_raw(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        raw = _parse_raw(d.pop("raw", UNSET))


        def _parse_review_reasons(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                review_reasons_type_0 = cast(list[str], data)

                return review_reasons_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        review_reasons = _parse_review_reasons(d.pop("review_reasons", UNSET))


        def _parse_reviewed(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        reviewed = _parse_reviewed(d.pop("reviewed", UNSET))


        def _parse_revision(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        revision = _parse_revision(d.pop("revision", UNSET))


        _timings = d.pop("timings", UNSET)
        timings: Timings | Unset
        if isinstance(_timings,  Unset):
            timings = UNSET
        else:
            timings = Timings.from_dict(_timings)


        truncated = d.pop("truncated", UNSET)

        ocr_result = cls(
            engine=engine,
            image=image,
            task=task,
            text=text,
            barcodes=barcodes,
            fields=fields,
            lines=lines,
            markdown=markdown,
            needs_review=needs_review,
            pages=pages,
            pages_failed=pages_failed,
            raw=raw,
            review_reasons=review_reasons,
            reviewed=reviewed,
            revision=revision,
            timings=timings,
            truncated=truncated,
        )


        ocr_result.additional_properties = d
        return ocr_result

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
