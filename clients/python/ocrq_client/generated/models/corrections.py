from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
  from ..models.barcode_correction import BarcodeCorrection
  from ..models.corrections_fields import CorrectionsFields
  from ..models.gs_1_correction import Gs1Correction
  from ..models.line_correction import LineCorrection


T = TypeVar("T", bound="Corrections")


@_attrs_define
class Corrections:
    """
        Attributes:
            barcodes (list[BarcodeCorrection] | Unset):
            fields (CorrectionsFields | Unset): task fields: name -> corrected value
            gs1 (list[Gs1Correction] | Unset):
            lines (list[LineCorrection] | Unset):
     """

    barcodes: list[BarcodeCorrection] | Unset = UNSET
    fields: CorrectionsFields | Unset = UNSET
    gs1: list[Gs1Correction] | Unset = UNSET
    lines: list[LineCorrection] | Unset = UNSET


    def to_dict(self) -> dict[str, Any]:
        from ..models.barcode_correction import BarcodeCorrection # noqa: PLC0415
        from ..models.corrections_fields import CorrectionsFields # noqa: PLC0415
        from ..models.gs_1_correction import Gs1Correction # noqa: PLC0415
        from ..models.line_correction import LineCorrection # noqa: PLC0415
        barcodes: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.barcodes, Unset):
            barcodes = []
            for barcodes_item_data in self.barcodes:
                barcodes_item = barcodes_item_data.to_dict()
                barcodes.append(barcodes_item)


        fields: dict[str, Any] | Unset = UNSET
        if not isinstance(self.fields, Unset):
            fields = self.fields.to_dict()

        gs1: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.gs1, Unset):
            gs1 = []
            for gs1_item_data in self.gs1:
                gs1_item = gs1_item_data.to_dict()
                gs1.append(gs1_item)


        lines: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.lines, Unset):
            lines = []
            for lines_item_data in self.lines:
                lines_item = lines_item_data.to_dict()
                lines.append(lines_item)


        field_dict: dict[str, Any] = {}

        field_dict.update({
        })
        if barcodes is not UNSET:
            field_dict["barcodes"] = barcodes
        if fields is not UNSET:
            field_dict["fields"] = fields
        if gs1 is not UNSET:
            field_dict["gs1"] = gs1
        if lines is not UNSET:
            field_dict["lines"] = lines

        return field_dict


    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.barcode_correction import BarcodeCorrection # noqa: PLC0415
        from ..models.corrections_fields import CorrectionsFields # noqa: PLC0415
        from ..models.gs_1_correction import Gs1Correction # noqa: PLC0415
        from ..models.line_correction import LineCorrection # noqa: PLC0415
        d = dict(src_dict)
        _barcodes = d.pop("barcodes", UNSET)
        barcodes: list[BarcodeCorrection] | Unset = UNSET
        if _barcodes is not UNSET:
            barcodes = []
            for barcodes_item_data in _barcodes:
                barcodes_item = BarcodeCorrection.from_dict(barcodes_item_data)


                barcodes.append(barcodes_item)


        _fields = d.pop("fields", UNSET)
        fields: CorrectionsFields | Unset
        if isinstance(_fields,  Unset):
            fields = UNSET
        else:
            fields = CorrectionsFields.from_dict(_fields)


        _gs1 = d.pop("gs1", UNSET)
        gs1: list[Gs1Correction] | Unset = UNSET
        if _gs1 is not UNSET:
            gs1 = []
            for gs1_item_data in _gs1:
                gs1_item = Gs1Correction.from_dict(gs1_item_data)


                gs1.append(gs1_item)


        _lines = d.pop("lines", UNSET)
        lines: list[LineCorrection] | Unset = UNSET
        if _lines is not UNSET:
            lines = []
            for lines_item_data in _lines:
                lines_item = LineCorrection.from_dict(lines_item_data)


                lines.append(lines_item)


        corrections = cls(
            barcodes=barcodes,
            fields=fields,
            gs1=gs1,
            lines=lines,
        )

        return corrections
