"""Why a label needs a human: bad GS1 data in a symbol, or printed text that disagrees with the symbol.

``review_reasons(barcodes, lines)`` takes the decoder's symbols (models/barcodes.py dicts) and the OCR lines of
the same image, both in the image's pixels, and returns stable codes in this order:

- ``check_digit``: a symbol's SSCC/GTIN/GLN check digit is wrong;
- ``invalid_date``: a symbol carries a date that does not exist (``260230``);
- ``text_mismatch``: the human-readable interpretation printed near a symbol says something else.

The cross-check compares only what OCR read as a well-formed interpretation: ``(AI) data`` pairs whose data
matches the AI's own syntax (and check digit, where it has one), or for EAN/UPC/ITF the digits of the symbol's
length. A line OCR garbled (``)012) 2212)221(122)``) is not evidence of anything and is skipped, and so is an AI
the symbol does not carry (another symbol's text nearby). One misread digit almost always breaks the check
digit, so a misread SSCC is skipped rather than flagged; a label printed with another valid number is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier

REASON_ORDER = ("check_digit", "invalid_date", "text_mismatch")

# AIs whose last digit is a GS1 mod-10 check digit (SSCC, GTINs, GLNs).
_CHECKED_AIS = {"00", "01", "02", "410", "411", "412", "413", "414", "415", "416", "417"}
_NUMERIC_FORMATS = {"EAN13", "EAN8", "UPCA", "UPCE", "ITF", "ITF14"}
# OCR confuses these with digits; applied only where the data must be digits (a lot number may hold an O).
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1"})
_AI_IN_TEXT = re.compile(r"\(([0-9OoIl|]{2,4})\)")

# How far from a symbol its printed text may sit, as a share of the symbol's own size.
NEAR_VERTICAL = 0.8
NEAR_HORIZONTAL = 0.5


def review_reasons(barcodes: Sequence[dict[str, Any]], lines: Iterable[Any]) -> list[str]:
    """The review codes for one image ([] for a clean label); ``lines`` are Line models or dicts with text/box."""
    found: set[str] = set()
    readable = [(_text_of(ln), _box_of(ln)) for ln in lines]
    for bc in barcodes:
        gs1 = bc.get("gs1") or {}
        for err in gs1.get("errors") or []:
            if err.get("code") in ("check_digit", "invalid_date"):
                found.add(err["code"])
        near = [text for text, box in readable if box is not None and _near(bc["box"], box)]
        if near and _disagrees(bc, near):
            found.add("text_mismatch")
    return [r for r in REASON_ORDER if r in found]


def _text_of(line: Any) -> str:
    return str(line.get("text", "") if isinstance(line, dict) else getattr(line, "text", ""))


def _box_of(line: Any) -> tuple[float, float, float, float] | None:
    box = line.get("box") if isinstance(line, dict) else getattr(line, "box", None)
    if not box or len(box) != 4:
        return None
    x0, y0, x1, y1 = (float(v) for v in box)
    return x0, y0, x1, y1


def _near(symbol_box: Sequence[float], line_box: tuple[float, float, float, float]) -> bool:
    sx0, sy0, sx1, sy1 = (float(v) for v in symbol_box)
    dx = (sx1 - sx0) * NEAR_HORIZONTAL
    dy = max(sy1 - sy0, 1.0) * NEAR_VERTICAL
    lx0, ly0, lx1, ly1 = line_box
    return lx0 < sx1 + dx and lx1 > sx0 - dx and ly0 < sy1 + dy and ly1 > sy0 - dy


def _disagrees(bc: dict[str, Any], texts: list[str]) -> bool:
    gs1 = bc.get("gs1") or {}
    if gs1.get("kind") == "element_string":
        encoded = {e["ai"]: str(e["data"]) for e in gs1.get("elements") or [] if e.get("ai") != "?"}
        return any(_pairs_disagree(encoded, _printed_pairs(t)) for t in texts)
    if bc.get("format") in _NUMERIC_FORMATS and bc.get("encoding") == "text" and str(bc.get("text", "")).isdigit():
        return any(_digits_disagree(str(bc["text"]), t) for t in texts)
    return False  # free text (Code 39, QR, PDF417...) has no printed form to hold it to


def _printed_pairs(text: str) -> list[tuple[str, str]]:
    """``(00) 3 1234567 000000001 8 (10) AB`` -> [("00", "312345670000000018"), ("10", "AB")]."""
    compact = re.sub(r"\s+", "", text)
    marks = list(_AI_IN_TEXT.finditer(compact))
    pairs = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(compact)
        pairs.append((m.group(1).translate(_DIGIT_LOOKALIKES), compact[m.end() : end]))
    return pairs


@lru_cache(maxsize=256)
def _ai(ai: str) -> GS1ApplicationIdentifier | None:
    try:
        found = GS1ApplicationIdentifier.extract(ai)
    except ParseError:
        return None
    return found if found.ai == ai else None


def _well_formed(ai: str, data: str) -> str | None:
    """The printed data normalised for comparison, or None where it is not a believable reading of this AI."""
    spec = _ai(ai)
    if spec is None or not data:
        return None
    if spec.format.split("+", 1)[-1].startswith("N"):
        data = data.translate(_DIGIT_LOOKALIKES)
    if not re.fullmatch(spec.pattern, ai + data):
        return None
    if ai in _CHECKED_AIS and not _check_digit_ok(data):
        return None
    return data


def _check_digit_ok(digits: str) -> bool:
    return digits.isdigit() and len(digits) > 1 and str(gs1_standard_check_digit(digits[:-1])) == digits[-1]


def _pairs_disagree(encoded: dict[str, str], printed: list[tuple[str, str]]) -> bool:
    for ai, raw in printed:
        if ai not in encoded:
            continue
        data = _well_formed(ai, raw)
        if data is not None and data != encoded[ai]:
            return True
    return False


def _digits_disagree(symbol_text: str, text: str) -> bool:
    digits = re.sub(r"[\s-]+", "", text).translate(_DIGIT_LOOKALIKES)
    if len(digits) != len(symbol_text) or not digits.isdigit() or not _check_digit_ok(digits):
        return False
    return digits != symbol_text
