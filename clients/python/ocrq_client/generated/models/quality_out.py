from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.quality_out_verdict import check_quality_out_verdict
from ..models.quality_out_verdict import QualityOutVerdict
from typing import cast


T = TypeVar("T", bound="QualityOut")


@_attrs_define
class QualityOut:
    """ The rescan verdict of quality=check (shared/intake/quality.py): measures on 0..1 scales.

        Attributes:
            brightness (float):
            glare_fraction (float):
            reasons (list[str]):
            sharpness (float):
            verdict (QualityOutVerdict):
     """

    brightness: float
    glare_fraction: float
    reasons: list[str]
    sharpness: float
    verdict: QualityOutVerdict
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)


    def to_dict(self) -> dict[str, Any]:
        brightness = self.brightness

        glare_fraction = self.glare_fraction

        reasons = self.reasons


        sharpness = self.sharpness

        verdict: str = self.verdict


        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({
            "brightness": brightness,
            "glare_fraction": glare_fraction,
            "reasons": reasons,
            "sharpness": sharpness,
            "verdict": verdict,
        })

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        brightness = d.pop("brightness")

        glare_fraction = d.pop("glare_fraction")

        reasons = cast(list[str], d.pop("reasons"))


        sharpness = d.pop("sharpness")

        verdict = check_quality_out_verdict(d.pop("verdict"))


        quality_out = cls(
            brightness=brightness,
            glare_fraction=glare_fraction,
            reasons=reasons,
            sharpness=sharpness,
            verdict=verdict,
        )


        quality_out.additional_properties = d
        return quality_out

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
