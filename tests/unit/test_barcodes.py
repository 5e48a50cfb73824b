"""Barcodes decoded from generated labels: every clean label read with its GS1 fields, variants measured."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

from models.barcodes import decode_barcodes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import make_labels as ml  # noqa: E402


def _found(got: list[dict], sym: dict) -> dict | None:
    for g in got:
        if g["format"] == sym["format"] and g["text"] == sym["text"]:
            return g
    return None


def test_every_clean_label_decoded_with_gs1_fields() -> None:
    for name, im, expected in ml.labels():
        got = decode_barcodes(im)
        json.dumps(got)  # the result goes into a job result as is
        assert len(got) == len(expected["symbols"]), name
        for sym in expected["symbols"]:
            g = _found(got, sym)
            assert g is not None, (name, sym)
            x0, y0, x1, y1 = g["box"]
            assert 0 <= x0 < x1 <= im.width and 0 <= y0 < y1 <= im.height
            if sym["fields"]:
                assert g["gs1"] is not None, name
                for key, value in sym["fields"].items():
                    assert g["gs1"]["fields"][key] == value, (name, key)
                errors = [e["code"] for e in g["gs1"]["errors"]]
                planted = [r for r in expected["reasons"] if r in ("check_digit", "invalid_date")]
                assert errors == planted, (name, errors)


def test_binary_payload_is_base64() -> None:
    name, im, expected = next(x for x in ml.labels() if x[0] == "binary_qr")
    got = decode_barcodes(im)
    assert [(g["encoding"], g["text"]) for g in got] == [("base64", "/wCB/hCA")]


def test_no_barcode_is_an_empty_list() -> None:
    assert decode_barcodes(ml.no_barcode()) == []


def test_decode_rate_on_photo_like_variants() -> None:
    rate: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for _, dname, im, expected in ml.variants():
        got = decode_barcodes(im)
        for sym in expected["symbols"]:
            rate[dname][1] += 1
            rate[dname][0] += _found(got, sym) is not None
    for dname, (ok, total) in rate.items():
        print(f"{dname:12s} {ok}/{total} = {ok / total:.3f}")
    ok = sum(v[0] for v in rate.values())
    total = sum(v[1] for v in rate.values())
    print(f"overall {ok}/{total} = {ok / total:.3f}")
    assert ok / total >= 0.95


def test_large_image_boxes_map_back_to_its_pixels() -> None:
    name, im, expected = next(x for x in ml.labels() if x[0] == "gs1_128_sscc")
    big = im.resize((im.width * 4, im.height * 4))
    small_box = decode_barcodes(im)[0]["box"]
    big_box = decode_barcodes(big, max_side=2048)[0]["box"]
    assert all(abs(b - 4 * s) <= 16 for b, s in zip(big_box, small_box, strict=True))


def test_the_quick_pass_skips_the_deskew_sweep_that_a_thorough_search_needs() -> None:
    """barcodes=auto on an OCR job decodes with thorough=False: one read, no contrast/upscale/deskew
    sweep (over a second of CPU on a receipt with no symbol); a linear symbol skewed by 30 degrees
    is then the price: found by the thorough search (the barcodes task, barcodes=on) only."""
    name, im, expected = next(x for x in ml.labels() if x[0] == "gs1_128_sscc")
    skewed = ml._rotate(30)(im)
    assert decode_barcodes(skewed, thorough=False) == []
    found = decode_barcodes(skewed, thorough=True)
    assert _found(found, expected["symbols"][0]) is not None
    upright = decode_barcodes(im, thorough=False)
    assert _found(upright, expected["symbols"][0]) is not None


def test_which_jobs_search_for_barcodes_thoroughly() -> None:
    from shared.jobs.task_spec import TaskSpec

    assert TaskSpec(task="barcodes").thorough_barcodes
    assert TaskSpec(task="text", barcodes="on").thorough_barcodes
    assert not TaskSpec(task="text").thorough_barcodes  # auto
    assert not TaskSpec(task="text", barcodes="off").wants_barcodes
