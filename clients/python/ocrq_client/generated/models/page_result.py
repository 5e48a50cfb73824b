from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.line import Line
  from ..models.page_error import PageError
  from ..models.page_result_barcodes_type_0_item import PageResultBarcodesType0Item
  from ..models.page_result_fields_type_0 import PageResultFieldsType0


T = TypeVar("T", bound="PageResult")


@_attrs_define
class PageResult:
    """ One page of a result: its own size, text and line boxes (in that page's pixels), or its error.

        Attributes:
            height (int):
            page (int):
            width (int):
            barcodes (list[PageResultBarcodesType0Item] | None | Unset):
            error (None | PageError | Unset):
            fields (None | PageResultFieldsType0 | Unset):
            height_pt (float | None | Unset):
            lines (list[Line] | Unset):
            markdown (None | str | Unset):
            reduced_for_model (bool | None | Unset):
            text (str | Unset):  Default: ''.
            vision_tokens (int | None | Unset):
            width_pt (float | None | Unset):
     """

    height: int
    page: int
    width: int
    barcodes: list[PageResultBarcodesType0Item] | None | Unset = UNSET
    error: None | PageError | Unset = UNSET
    fields: None | PageResultFieldsType0 | Unset = UNSET
    height_pt: float | None | Unset = UNSET
    lines: list[Line] | Unset = UNSET
    markdown: None | str | Unset = UNSET
    reduced_for_model: bool | None | Unset = UNSET
    text: str | Unset = ''
    vision_tokens: int | None | Unset = UNSET
    width_pt: float | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        from ..models.line import Line # noqa: PLC0415
        from ..models.page_error import PageError # noqa: PLC0415
        from ..models.page_result_barcodes_type_0_item import PageResultBarcodesType0Item # noqa: PLC0415
        from ..models.page_result_fields_type_0 import PageResultFieldsType0 # noqa: PLC0415
        height = self.height

        page = self.page

        width = self.width

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

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, PageError):
            error = self.error.to_dict()
        else:
            error = self.error

        fields: dict[str, Any] | None | Unset
        if isinstance(self.fields, Unset):
            fields = UNSET
        elif isinstance(self.fields, PageResultFieldsType0):
            fields = self.fields.to_dict()
        else:
            fields = self.fields

        height_pt: float | None | Unset
        if isinstance(self.height_pt, Unset):
            height_pt = UNSET
        else:
            height_pt = self.height_pt

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

        reduced_for_model: bool | None | Unset
        if isinstance(self.reduced_for_model, Unset):
            reduced_for_model = UNSET
        else:
            reduced_for_model = self.reduced_for_model

        text = self.text

        vision_tokens: int | None | Unset
        if isinstance(self.vision_tokens, Unset):
            vision_tokens = UNSET
        else:
            vision_tokens = self.vision_tokens

        width_pt: float | None | Unset
        if isinstance(self.width_pt, Unset):
            width_pt = UNSET
        else:
            width_pt = self.width_pt


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "height": height,
            "page": page,
            "width": width,
        })
        if barcodes is not UNSET:
            field_dict["barcodes"] = barcodes
        if error is not UNSET:
            field_dict["error"] = error
        if fields is not UNSET:
            field_dict["fields"] = fields
        if height_pt is not UNSET:
            field_dict["height_pt"] = height_pt
        if lines is not UNSET:
            field_dict["lines"] = lines
        if markdown is not UNSET:
            field_dict["markdown"] = markdown
        if reduced_for_model is not UNSET:
            field_dict["reduced_for_model"] = reduced_for_model
        if text is not UNSET:
            field_dict["text"] = text
        if vision_tokens is not UNSET:
            field_dict["vision_tokens"] = vision_tokens
        if width_pt is not UNSET:
            field_dict["width_pt"] = width_pt

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.line import Line # noqa: PLC0415
        from ..models.page_error import PageError # noqa: PLC0415
        from ..models.page_result_barcodes_type_0_item import PageResultBarcodesType0Item # noqa: PLC0415
        from ..models.page_result_fields_type_0 import PageResultFieldsType0 # noqa: PLC0415
        d = dict(src_dict)
        height = d.pop("height")

        page = d.pop("page")

        width = d.pop("width")

        def _parse_barcodes(data: object) -> list[PageResultBarcodesType0Item] | None | Unset:
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
                    barcodes_type_0_item = PageResultBarcodesType0Item.from_dict(barcodes_type_0_item_data)


                    barcodes_type_0.append(barcodes_type_0_item)

                return barcodes_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[PageResultBarcodesType0Item] | None | Unset, data)

        barcodes = _parse_barcodes(d.pop("barcodes", UNSET))


        def _parse_error(data: object) -> None | PageError | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = PageError.from_dict(data)


                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PageError | Unset, data)

        error = _parse_error(d.pop("error", UNSET))


        def _parse_fields(data: object) -> None | PageResultFieldsType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                fields_type_0 = PageResultFieldsType0.from_dict(data)


                return fields_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | PageResultFieldsType0 | Unset, data)

        fields = _parse_fields(d.pop("fields", UNSET))


        def _parse_height_pt(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        height_pt = _parse_height_pt(d.pop("height_pt", UNSET))


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


        def _parse_reduced_for_model(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        reduced_for_model = _parse_reduced_for_model(d.pop("reduced_for_model", UNSET))


        text = d.pop("text", UNSET)

        def _parse_vision_tokens(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        vision_tokens = _parse_vision_tokens(d.pop("vision_tokens", UNSET))


        def _parse_width_pt(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        width_pt = _parse_width_pt(d.pop("width_pt", UNSET))


        page_result = cls(
            height=height,
            page=page,
            width=width,
            barcodes=barcodes,
            error=error,
            fields=fields,
            height_pt=height_pt,
            lines=lines,
            markdown=markdown,
            reduced_for_model=reduced_for_model,
            text=text,
            vision_tokens=vision_tokens,
            width_pt=width_pt,
        )


        page_result.additional_properties = d
        return page_result

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
