"""Why a label needs a human: bad GS1 data in a symbol, or printed text that disagrees with the symbol.

``review_reasons(barcodes, lines)`` takes the decoder's symbols (models/barcodes.py dicts) and the OCR lines of
the same image, both in the image's pixels, and returns stable codes in this order:

- ``check_digit``: a symbol's SSCC/GTIN/GLN check digit is wrong;
- ``invalid_date``: a symbol carries a date that does not exist (``260230``);
- ``text_mismatch``: the human-readable interpretation printed near a symbol says something else;
- ``answer_mismatch``: for the ``fields`` and ``ask`` tasks, the model's answer gives a GS1 datum (an SSCC, a
  GTIN, a lot, an expiry date) that differs from the decoded symbols' datum of the same meaning.

The cross-check compares only what OCR read as a well-formed interpretation: ``(AI) data`` pairs whose data
matches the AI's own syntax (and check digit, where it has one), or for EAN/UPC/ITF the digits of the symbol's
length. A line OCR garbled (``)012) 2212)221(122)``) is not evidence of anything and is skipped, and so is an AI
the symbol does not carry (another symbol's text nearby). One misread digit almost always breaks the check
digit, so a misread SSCC is skipped rather than flagged; a label printed with another valid number is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier

REASON_ORDER = ("check_digit", "invalid_date", "text_mismatch", "answer_mismatch")
ANSWER_TASKS = frozenset({"fields", "ask"})  # tasks whose answer is held to the decoded symbols

# AIs whose last digit is a GS1 mod-10 check digit (SSCC, GTINs, GLNs).
_CHECKED_AIS = {"00", "01", "02", "410", "411", "412", "413", "414", "415", "416", "417"}
_NUMERIC_FORMATS = {"EAN13", "EAN8", "UPCA", "UPCE", "ITF", "ITF14"}
# OCR confuses these with digits; applied only where the data must be digits (a lot number may hold an O).
_DIGIT_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1"})
_AI_IN_TEXT = re.compile(r"\(([0-9OoIl|]{2,4})\)")

# How far from a symbol its printed text may sit, as a share of the symbol's own size.
NEAR_VERTICAL = 0.8
NEAR_HORIZONTAL = 0.5


def review_reasons(
    barcodes: Sequence[dict[str, Any]],
    lines: Iterable[Any],
    *,
    task: str = "text",
    fields: dict[str, Any] | None = None,
    answer: str | None = None,
) -> list[str]:
    """The review codes for one image ([] for a clean label); ``lines`` are Line models or dicts with text/box.

    For the ``fields`` and ``ask`` tasks, ``fields`` (the parsed answer) and ``answer`` (its text) are held
    to the symbols too (``answer_mismatch``).
    """
    found: set[str] = set()
    if task in ANSWER_TASKS and barcodes and answer_contradicts(barcodes, fields=fields, answer=answer):
        found.add("answer_mismatch")
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


# ---------------------------------------------------------------- the model's answer against the symbols
# What each AI's datum means, for comparing with an answer (dates: expiry, best before, sell by alike).
_MEANING_OF_AI = {"00": "sscc", "01": "gtin", "02": "gtin", "10": "lot", "15": "date", "16": "date", "17": "date"}
# What a field's name (or the words just before a value in a free answer) says the value is.
_HINTS = (
    ("sscc", re.compile(r"\bsscc|serial shipping|shipping container|\bpallet", re.I)),
    ("gtin", re.compile(r"\bgtin|\bean\b|\bean ?(?:8|13|code)|\bupc|\bbarcode|\barticle|\b(?:product|item) "
                        r"(?:code|number|no\b|id\b)", re.I)),
    ("lot", re.compile(r"\blot\b|\bbatch", re.I)),
    ("date", re.compile(r"\bexpir|\bexp\b|best ?before|use ?by|\bbbd\b|sell ?by", re.I)),
)
_DIGIT_RUN = re.compile(r"\d(?:[ \-]?\d)+")
# After "lot" in a free answer: the filler words, then the code ("lot number is B77").
_LOT_VALUE = re.compile(r"^(?:\W*(?:number|no|nr|code|id|is|was|reads|of|the|batch|lot)\b)*\W*([A-Za-z0-9][\w\-/.]*)",
                        re.I)
_ANSWER_AI = re.compile(r"\((\d{2,4})\)\s*([^(\n;]*)")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}
_NAMED_DATE = (re.compile(r"\b(\d{1,2})\.?\s*([A-Za-z]{3,9})\.?,?\s*(\d{4}|\d{2})\b"),  # 31 Dec 2026
               re.compile(r"\b([A-Za-z]{3,9})\.?\s*(\d{1,2}),?\s*(\d{4})\b"))  # Dec 31, 2026
_NUMERIC_DATE = (re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b"),  # 2026-12-31
                 re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})\b"),  # 31.12.2026, 12/31/26
                 re.compile(r"\b(\d{1,2})[-/.](\d{4})\b"),  # 12/2026: a month
                 re.compile(r"(?<!\d)(\d{6}|\d{8})(?!\d)"))  # 261231 (GS1 YYMMDD), 20261231


def answer_contradicts(
    barcodes: Sequence[dict[str, Any]], *, fields: dict[str, Any] | None = None, answer: str | None = None
) -> bool:
    """True when the answer (``fields``, else the free ``answer`` text) gives a GS1 datum that differs from
    every decoded datum of the same meaning. Only data the symbols carry are compared, and only values that
    read as such a datum: an 18-digit SSCC, a GTIN (8, 12, 13 or 14 digits) named as one, a lot or an expiry
    date named as one, or any ``(AI) data`` pair; a lot matches with or without its ``LOT`` prefix, a date
    in any usual notation (day/month order both tried)."""
    decoded = _decoded(barcodes)
    if not any(decoded.values()):
        return False
    claims = _field_claims(fields) if isinstance(fields, dict) else _text_claims(answer or "")
    return any(decoded[meaning] and not _agrees(meaning, value, decoded[meaning]) for meaning, value in claims)


def _decoded(barcodes: Sequence[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"sscc": set(), "gtin": set(), "lot": set(), "date": set()}
    for bc in barcodes:
        for e in (bc.get("gs1") or {}).get("elements") or []:
            meaning = _MEANING_OF_AI.get(str(e.get("ai")))
            value = str(e.get("value") if e.get("value") is not None else e.get("data") or "")
            if meaning is None or not value:
                continue
            if meaning == "date":
                if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):  # an impossible date is flagged already
                    out["date"].add(value)
            elif meaning == "lot":
                out["lot"].add(value)
            elif value.isdigit():
                out[meaning].add(value.zfill(14) if meaning == "gtin" else value)
    return out


def _field_claims(fields: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    claims: list[tuple[str, str]] = []
    for key, value in fields.items():
        name = f"{prefix} {key}".strip()
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, dict):
                claims += _field_claims(v, name)
            elif isinstance(v, (str, int)) and not isinstance(v, bool):
                claims += _named_claims(name, str(v))
    return claims


def _named_claims(name: str, value: str) -> list[tuple[str, str]]:
    """What one named value claims: its ``(AI)`` pairs, else what its name says it is, if it has that shape;
    a value with no telling name is still read as free text (``SSCC 0950... lot B7``)."""
    if _ANSWER_AI.search(value):
        return _ai_claims(value)
    key = re.sub(r"[_\-.]+", " ", name)
    claims = []
    for meaning, hint in _HINTS:
        if hint.search(key):
            v = _shaped(meaning, value)
            if v is not None:
                claims.append((meaning, v))
    return claims or _text_claims(value)


def _text_claims(text: str) -> list[tuple[str, str]]:
    """The data a free answer states: ``(AI) data`` pairs, values after a telling word, bare SSCCs."""
    claims = _ai_claims(text)
    for meaning, hint in _HINTS:
        for m in hint.finditer(text):
            window = re.split(r"[\n;]|\.\s", text[m.end() : m.end() + 60], maxsplit=1)[0]
            v = _shaped(meaning, window, within=True)
            if v is not None:
                claims.append((meaning, v))
    for run in _DIGIT_RUN.findall(text):
        digits = re.sub(r"\D", "", run)
        if len(digits) == 18 and _check_digit_ok(digits):  # an SSCC needs no name
            claims.append(("sscc", digits))
    return claims


def _ai_claims(text: str) -> list[tuple[str, str]]:
    claims = []
    for ai, data in _ANSWER_AI.findall(text):
        meaning = _MEANING_OF_AI.get(ai)
        if meaning is not None:
            v = _shaped(meaning, data, within=True, ai=ai)
            if v is not None:
                claims.append((meaning, v))
    return claims


def _shaped(meaning: str, value: str, *, within: bool = False, ai: str | None = None) -> str | None:
    """``value`` normalised as a datum of ``meaning``, or None where it does not have that shape. ``within``:
    the datum is at the start of (or, for numbers, somewhere in) a longer text."""
    if meaning in ("sscc", "gtin"):
        runs = _DIGIT_RUN.findall(value) if within else [value.strip()]
        for run in runs:
            digits = re.sub(r"[ \-]", "", run)
            if not digits.isdigit():
                continue
            if meaning == "sscc" and len(digits) in (18, 20) and (len(digits) == 18 or digits.startswith("00")):
                return digits[-18:]
            if meaning == "gtin" and len(digits) in (8, 12, 13, 14, 16):
                return digits[-14:].zfill(14) if len(digits) < 16 or digits.startswith("01") else None
        return None
    if meaning == "lot":
        m = _LOT_VALUE.match(value) if within else None
        lot = (m.group(1) if m else "" if within else value).strip(" .,:;")
        # A lot is a short code; one without a digit is prose ("batch unknown") unless an AI says it is a lot.
        if not re.fullmatch(r"[A-Za-z0-9][\w\-/. ]{0,19}", lot) or not (ai or any(ch.isdigit() for ch in lot)):
            return None
        return lot
    if ai is not None:  # (17) 261231
        digits = re.sub(r"\s", "", value)[:6]
        if len(digits) < 6 or not digits.isdigit():
            return None
        return _iso(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:6]))
    dates = _dates(value)
    return "|".join(sorted(dates)) if dates else None


def _dates(text: str) -> set[str]:
    """The dates ``text`` may mean, as ISO days or ``YYYY-MM`` months (day/month order both tried)."""
    for rx in _NAMED_DATE:
        m = rx.search(text)
        if m:
            a, b, c = m.groups()
            day, month_name = (a, b) if a.isdigit() else (b, a)
            month = _MONTHS.get(month_name[:3].lower())
            if month:
                return {d for d in [_iso(_year(c), month, int(day))] if d}
    for i, rx in enumerate(_NUMERIC_DATE):
        m = rx.search(text)
        if not m:
            continue
        g = m.groups()
        if i == 0:
            found = {_iso(int(g[0]), int(g[1]), int(g[2]))}
        elif i == 1:
            found = {_iso(_year(g[2]), int(g[1]), int(g[0])), _iso(_year(g[2]), int(g[0]), int(g[1]))}
        elif i == 2:
            found = {f"{int(g[1]):04d}-{int(g[0]):02d}"} if 1 <= int(g[0]) <= 12 else set()
        elif len(g[0]) == 6:  # YYMMDD as GS1 prints it, or DDMMYY
            n = g[0]
            found = {_iso(2000 + int(n[:2]), int(n[2:4]), int(n[4:])), _iso(2000 + int(n[4:]), int(n[2:4]), int(n[:2]))}
        else:  # YYYYMMDD
            n = g[0]
            found = {_iso(int(n[:4]), int(n[4:6]), int(n[6:]))}
        dates = {d for d in found if d}
        if dates:
            return dates
    return set()


def _year(text: str) -> int:
    return int(text) + 2000 if len(text) == 2 else int(text)


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _agrees(meaning: str, value: str, decoded: set[str]) -> bool:
    if meaning == "lot":
        return bool(_lot_forms(value) & {f for d in decoded for f in _lot_forms(d)})
    if meaning == "date":  # any reading of the answer's date on a decoded day (or in its month)
        return any(d == c or (len(c) == 7 and d.startswith(c)) for c in value.split("|") for d in decoded)
    return value in decoded


def _lot_forms(lot: str) -> set[str]:
    compact = re.sub(r"[\s\-/.]", "", lot).upper()
    return {compact, re.sub(r"^(?:LOT|BATCH|L)(?=\w)", "", compact)}
