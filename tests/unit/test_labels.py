"""Printed text against symbol on generated labels, read by the real decoder and RapidOCR (CPU)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from models.barcodes import decode_barcodes
from shared.labels.review_reasons import review_reasons
from shared.results.model import Line

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import make_labels as ml  # noqa: E402

# Labels with printed interpretations (and the planted faults); the others have no text to hold a symbol to.
NAMES = ("gs1_128_sscc", "gs1_128_gtin_lot_expiry", "gs1_datamatrix", "ean13", "itf14", "several_per_image",
         "fault_check_digit", "fault_impossible_date", "fault_text_mismatch")


@pytest.fixture(scope="module")
def ocr():
    from models.base import EngineRequest
    from models.registry import load_engine
    from shared.infra.settings import load_settings
    from shared.jobs.task_spec import TaskSpec

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


# ------------------------------------------------------------------ fields/ask answers against the symbols
def _gtin_lot_expiry_symbol() -> dict:
    elements = [{"ai": "01", "value": ml.GTIN, "data": ml.GTIN}, {"ai": "17", "value": "2026-12-31", "data": "261231"},
                {"ai": "10", "value": "LOT42A", "data": "LOT42A"}]
    return {"format": "Code128", "text": "", "encoding": "text", "box": [60, 100, 700, 260],
            "gs1": {"valid": True, "kind": "element_string", "elements": elements, "errors": []}}


LABEL = [_sscc_symbol(ml.SSCC), _gtin_lot_expiry_symbol()]
OTHER_SSCC = ml.with_check_digit("09506000" + "000000124")


def _fields(answer: dict) -> list[str]:
    return review_reasons(LABEL, [], task="fields", fields=answer)


def _ask(answer: str) -> list[str]:
    return review_reasons(LABEL, [], task="ask", answer=answer)


def test_field_values_that_agree_with_the_symbols_in_any_notation_raise_nothing() -> None:
    assert _fields({"sscc": ml.SSCC, "gtin": ml.GTIN[1:], "lot": "LOT42A", "expiry_date": "2026-12-31"}) == []
    assert _fields({"SSCC": ml.spaced_sscc(ml.SSCC), "pallet id": int(ml.SSCC)}) == []
    assert _fields({"batch": "42A", "best before": "31.12.2026", "exp": "12/2026", "use_by": "261231"}) == []
    assert _fields({"label": {"barcode": f"(01){ml.GTIN}(17)261231(10)LOT42A"}}) == []


def test_a_field_value_that_contradicts_a_decoded_symbol_is_answer_mismatch() -> None:
    assert _fields({"sscc": OTHER_SSCC}) == ["answer_mismatch"]
    assert _fields({"EAN": ml.GTIN[1:-1] + str((int(ml.GTIN[-1]) + 1) % 10)}) == ["answer_mismatch"]
    assert _fields({"lot_number": "LOT42B"}) == ["answer_mismatch"]
    assert _fields({"expiry date": "30/12/2026"}) == ["answer_mismatch"]
    assert _fields({"shipment": {"items": [{"batch": "B77"}]}}) == ["answer_mismatch"]  # nested values count
    assert _fields({"code": f"(00){OTHER_SSCC}"}) == ["answer_mismatch"]  # an (AI) pair names itself


def test_values_that_are_no_gs1_datum_or_that_no_symbol_carries_are_not_compared() -> None:
    assert _fields({"total": "9.00", "phone": "07-355 2616", "date": "2019-01-03", "invoice": "CS00011803"}) == []
    assert _fields({"lot": "unknown", "expiry": "not printed", "gtin": "n/a", "sscc": None}) == []
    only_sscc = [_sscc_symbol(ml.SSCC)]
    assert review_reasons(only_sscc, [], task="fields", fields={"lot": "X17", "expiry": "2030-01-01"}) == []


def test_only_fields_and_ask_answers_are_held_to_the_symbols() -> None:
    assert review_reasons(LABEL, [], task="text", fields={"sscc": OTHER_SSCC}, answer=OTHER_SSCC) == []
    assert review_reasons([], [], task="fields", fields={"sscc": OTHER_SSCC}) == []


def test_a_free_answer_is_read_for_the_data_it_states() -> None:
    assert _ask(f"The SSCC is {ml.spaced_sscc(ml.SSCC)[5:]}, lot number LOT42A, best before 31 Dec 2026.") == []
    assert _ask(f"The pallet label reads (00) {OTHER_SSCC}.") == ["answer_mismatch"]
    assert _ask(f"SSCC: {OTHER_SSCC}") == ["answer_mismatch"]
    assert _ask(OTHER_SSCC) == ["answer_mismatch"]  # 18 digits with a valid check digit need no name
    assert _ask("Lot: B77. The rest is unreadable.") == ["answer_mismatch"]
    assert _ask("It expires on 2026-12-30.") == ["answer_mismatch"]
    assert _ask("The batch is unknown and the expiry date is not printed.") == []


def test_answer_mismatch_comes_after_the_symbols_own_faults() -> None:
    sym = _sscc_symbol(ml.SSCC)
    sym["gs1"]["errors"] = [{"code": "check_digit", "ai": "00"}]
    assert review_reasons([sym], [], task="fields", fields={"sscc": OTHER_SSCC}) == ["check_digit", "answer_mismatch"]


def test_a_decoded_label_and_a_wrong_model_answer() -> None:
    _, im, _ = next(x for x in ml.labels() if x[0] == "gs1_128_gtin_lot_expiry")
    barcodes = decode_barcodes(im)
    good = {"GTIN": ml.GTIN, "Batch/Lot": "LOT42A", "Best before": "31.12.2026"}
    assert review_reasons(barcodes, [], task="fields", fields=good) == []
    assert review_reasons(barcodes, [], task="fields", fields={**good, "Batch/Lot": "LOT24A"}) == ["answer_mismatch"]
