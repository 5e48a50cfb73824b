from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast


T = TypeVar("T", bound="LineCorrection")


@_attrs_define
class LineCorrection:
    """
        Attributes:
            index (int): the line's index (in the page's lines when page is given)
            text (str):
            page (int | None | Unset): documents: the 1-based page
     """

    index: int
    text: str
    page: int | None | Unset = UNSET


    def to_dict(self) -> dict[str, Any]:
        index = self.index

        text = self.text

        page: int | None | Unset
        if isinstance(self.page, Unset):
            page = UNSET
        else:
            page = self.page


        field_dict: dict[str, Any] = {}

        field_dict.update({
            "index": index,
            "text": text,
        })
        if page is not UNSET:
            field_dict["page"] = page

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        index = d.pop("index")

        text = d.pop("text")

        def _parse_page(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        page = _parse_page(d.pop("page", UNSET))


        line_correction = cls(
            index=index,
            text=text,
            page=page,
        )

        return line_correction
