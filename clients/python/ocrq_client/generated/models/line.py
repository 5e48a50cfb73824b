from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast


T = TypeVar("T", bound="Line")


@_attrs_define
class Line:
    """
        Attributes:
            box (list[int]):
            text (str):
            confidence (float | None | Unset):
            polygon (list[list[int]] | None | Unset):
     """

    box: list[int]
    text: str
    confidence: float | None | Unset = UNSET
    polygon: list[list[int]] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        box = []
        for box_item_data in self.box:
            box_item: int
            box_item = box_item_data
            box.append(box_item)


        text = self.text

        confidence: float | None | Unset
        if isinstance(self.confidence, Unset):
            confidence = UNSET
        else:
            confidence = self.confidence

        polygon: list[list[int]] | None | Unset
        if isinstance(self.polygon, Unset):
            polygon = UNSET
        elif isinstance(self.polygon, list):
            polygon = []
            for polygon_type_0_item_data in self.polygon:
                polygon_type_0_item = []
                for polygon_type_0_item_item_data in polygon_type_0_item_data:
                    polygon_type_0_item_item: int
                    polygon_type_0_item_item = polygon_type_0_item_item_data
                    polygon_type_0_item.append(polygon_type_0_item_item)


                polygon.append(polygon_type_0_item)


        else:
            polygon = self.polygon


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "box": box,
            "text": text,
        })
        if confidence is not UNSET:
            field_dict["confidence"] = confidence
        if polygon is not UNSET:
            field_dict["polygon"] = polygon

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        box = []
        _box = d.pop("box")
        for box_item_data in (_box):
            def _parse_box_item(data: object) -> int:
                return cast(int, data)

            box_item = _parse_box_item(box_item_data)

            box.append(box_item)


        text = d.pop("text")

        def _parse_confidence(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        confidence = _parse_confidence(d.pop("confidence", UNSET))


        def _parse_polygon(data: object) -> list[list[int]] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                polygon_type_0 = []
                _polygon_type_0 = data
                for polygon_type_0_item_data in (_polygon_type_0):
                    polygon_type_0_item = []
                    _polygon_type_0_item = polygon_type_0_item_data
                    for polygon_type_0_item_item_data in (_polygon_type_0_item):
                        def _parse_polygon_type_0_item_item(data: object) -> int:
                            return cast(int, data)

                        polygon_type_0_item_item = _parse_polygon_type_0_item_item(polygon_type_0_item_item_data)

                        polygon_type_0_item.append(polygon_type_0_item_item)

                    polygon_type_0.append(polygon_type_0_item)

                return polygon_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[list[int]] | None | Unset, data)

        polygon = _parse_polygon(d.pop("polygon", UNSET))


        line = cls(
            box=box,
            text=text,
            confidence=confidence,
            polygon=polygon,
        )


        line.additional_properties = d
        return line

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
