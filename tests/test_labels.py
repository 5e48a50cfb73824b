"""Printed text against symbol on generated labels, read by the real decoder and RapidOCR (CPU)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from models.barcodes import decode_barcodes
from shared.labels import review_reasons
from shared.results import Line

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import make_labels as ml  # noqa: E402

# Labels with printed interpretations (and the planted faults); the others have no text to hold a symbol to.
NAMES = ("gs1_128_sscc", "gs1_128_gtin_lot_expiry", "gs1_datamatrix", "ean13", "itf14", "several_per_image",
         "fault_check_digit", "fault_impossible_date", "fault_text_mismatch")


@pytest.fixture(scope="module")
def ocr():
    from models.base import EngineRequest
    from models.registry import load_engine
    from shared.settings import load_settings
    from shared.tasks import TaskSpec

    engine = load_engine(load_settings(), "rapidocr")
    return lambda im: engine.run([EngineRequest(im, TaskSpec())])[0].lines


def test_generated_labels_flag_exactly_the_planted_faults(ocr) -> None:
    seen = set()
    for name, im, expected in ml.labels():
        if name not in NAMES:
            continue
        seen.add(name)
        assert review_reasons(decode_barcodes(im), ocr(im)) == expected["reasons"], name
    assert seen == set(NAMES)


def _sscc_symbol(sscc: str, box=(100, 50, 700, 250)) -> dict:
    elements = [{"ai": "00", "title": "SSCC", "value": sscc, "data": sscc}]
    return {"format": "Code128", "text": f"(00){sscc}", "encoding": "text", "box": list(box),
            "gs1": {"valid": True, "kind": "element_string", "fields": {"sscc": sscc}, "elements": elements,
                    "errors": []}}


def _line(text: str, box=(60, 270, 560, 310)) -> Line:
    return Line(text=text, box=box)


def test_printed_sscc_compared_ignoring_spaces_parens_and_digit_lookalikes() -> None:
    sym = [_sscc_symbol(ml.SSCC)]
    assert review_reasons(sym, [_line(ml.spaced_sscc(ml.SSCC))]) == []
    lookalike = ml.spaced_sscc(ml.SSCC).replace("0", "O").replace("1", "I")
    assert review_reasons(sym, [_line(lookalike)]) == []
    other = ml.with_check_digit("09506000" + "000000124")
    assert review_reasons(sym, [_line(ml.spaced_sscc(other))]) == ["text_mismatch"]


def test_a_misread_digit_or_far_away_text_is_not_a_mismatch() -> None:
    sym = [_sscc_symbol(ml.SSCC)]
    misread = ml.SSCC[:10] + str((int(ml.SSCC[10]) + 1) % 10) + ml.SSCC[11:]  # breaks the check digit
    assert review_reasons(sym, [_line(f"(00){misread}")]) == []
    other = ml.with_check_digit("09506000" + "000000124")
    assert review_reasons(sym, [_line(ml.spaced_sscc(other), box=(60, 900, 560, 940))]) == []
    assert review_reasons(sym, [_line(")012) 2212)221(122)")]) == []


def test_alphanumeric_data_keeps_its_letters_and_each_line_counts() -> None:
    gtin = ml.GTIN
    elements = [{"ai": "01", "data": gtin}, {"ai": "10", "data": "LOT9"}, {"ai": "21", "data": "SN000123"}]
    sym = [{"format": "DataMatrix", "text": "", "encoding": "text", "box": [70, 100, 290, 330],
            "gs1": {"kind": "element_string", "elements": elements, "errors": []}}]
    ok = [_line(f"(01) {gtin}", (60, 360, 560, 390)), _line("(10) LOT9 (21) SN000123", (60, 400, 430, 436))]
    assert review_reasons(sym, ok) == []
    bad = [ok[0], _line("(10) LOT8 (21) SN000123", (60, 400, 430, 436))]
    assert review_reasons(sym, bad) == ["text_mismatch"]


def test_gs1_errors_in_symbols_become_reasons_in_a_stable_order() -> None:
    sym = _sscc_symbol(ml.SSCC)
    sym["gs1"]["errors"] = [{"code": "invalid_date", "ai": "17"}, {"code": "check_digit", "ai": "00"}]
    assert review_reasons([sym], []) == ["check_digit", "invalid_date"]
    assert review_reasons([], [_line("anything")]) == []
