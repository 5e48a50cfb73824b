"""A reviewer's corrections applied to a result: validated first (nothing changes on a refusal), then the
corrected result (revision 2) and its diff [{path, from, to}].

Lines are named by index (in the result's lines, or with ``page`` in that page's lines); a line's text also
changes where it appears in the page's and the result's text. A GS1 value is checked by the same rules as a
decoded one (shared/labels/gs1.py: syntax, check digit, date): a corrected SSCC with a wrong check digit is refused
with the reason.
"""

from __future__ import annotations

import copy
from typing import Any

from shared.api_schemas.reviews import Corrections
from shared.labels import gs1
from shared.reviews.model import InvalidGs1, UnknownBarcode, UnknownField, UnknownLine


def _page_of(result: dict[str, Any], page: int) -> dict[str, Any]:
    for p in result.get("pages") or []:
        if int(p.get("page") or 0) == page:
            return p
    raise UnknownLine("corrections.lines", f"the result has no page {page}; pages: "
                      f"{[p.get('page') for p in result.get('pages') or []]}")


def _replace_once(text: str, old: str, new: str) -> str:
    return text.replace(old, new, 1) if old and old in text else text


def check_gs1(ai: str, value: str) -> dict[str, Any]:
    """The parsed element ``(ai)value``; InvalidGs1 naming what is wrong (check digit, date, syntax)."""
    parsed = gs1.parse_element_string(f"({ai}){value}")
    errs = parsed.get("errors") or []
    if errs:
        raise InvalidGs1("corrections.gs1", f"({ai}) {value} is not a valid GS1 value: {_errors_text(errs)}")
    return parsed


def _errors_text(errs: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errs)


def _lines_of(out: dict[str, Any], page_no: int | None) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str]:
    """(the lines a correction indexes, the page whose text follows them, how the diff names them)."""
    pages = out.get("pages") or []
    if page_no is None or (len(pages) <= 1 and page_no == 1 and out.get("lines")):
        return out.get("lines") or [], pages[0] if len(pages) == 1 else None, "lines"
    page = _page_of(out, page_no)
    return page.get("lines") or [], page, f"pages[{page_no}].lines"


def _apply_lines(out: dict[str, Any], fixes: Corrections, diff: list[dict[str, Any]]) -> None:
    for c in fixes.lines:
        lines, page, where = _lines_of(out, c.page)
        if c.index >= len(lines):
            on_page = f" on page {c.page}" if c.page else ""
            raise UnknownLine("corrections.lines", f"{where}[{c.index}] does not exist: the result has {len(lines)} "
                              f"lines{on_page} (indexes 0-{len(lines) - 1})")
        old = str(lines[c.index].get("text", ""))
        if old == c.text:
            continue
        lines[c.index]["text"] = c.text
        if page is not None:
            page["text"] = _replace_once(str(page.get("text") or ""), old, c.text)
            page_lines = page.get("lines") or []
            if page_lines is not lines and c.index < len(page_lines) and page_lines[c.index].get("text") == old:
                page_lines[c.index]["text"] = c.text  # an image's only page repeats the result's lines
        out["text"] = _replace_once(str(out.get("text") or ""), old, c.text)
        diff.append({"path": f"{where}[{c.index}].text", "from": old, "to": c.text})


def _apply_fields(out: dict[str, Any], fixes: Corrections, wanted: tuple[str, ...] | None,
                  diff: list[dict[str, Any]]) -> None:
    if not fixes.fields:
        return
    fields = out.get("fields") if isinstance(out.get("fields"), dict) else {}
    assert isinstance(fields, dict)
    allowed = set(fields) | set(wanted or ())
    for name, value in fixes.fields.items():
        if name not in allowed:
            raise UnknownField("corrections.fields", f"no field {name!r}: the job's fields are "
                               f"{sorted(allowed) or 'none'}")
        if fields.get(name) != value:
            diff.append({"path": f"fields.{name}", "from": fields.get(name), "to": value})
            fields[name] = value
    out["fields"] = fields


def _apply_barcodes(barcodes: list[dict[str, Any]], fixes: Corrections, diff: list[dict[str, Any]]) -> None:
    for b in fixes.barcodes:
        if b.index >= len(barcodes):
            raise UnknownBarcode("corrections.barcodes", f"barcodes[{b.index}] does not exist: the result has "
                                 f"{len(barcodes)} barcodes")
        parsed = gs1.parse(b.text)
        if parsed is not None and parsed.get("errors"):
            why = _errors_text(parsed["errors"])
            raise InvalidGs1("corrections.barcodes", f"barcodes[{b.index}] text is GS1 data that is not valid: {why}")
        old = barcodes[b.index].get("text")
        if old != b.text:
            barcodes[b.index]["text"] = b.text
            if parsed is not None:
                barcodes[b.index]["gs1"] = parsed
            diff.append({"path": f"barcodes[{b.index}].text", "from": old, "to": b.text})


def _apply_gs1(barcodes: list[dict[str, Any]], fixes: Corrections, diff: list[dict[str, Any]]) -> None:
    for g in fixes.gs1:
        if g.barcode >= len(barcodes):
            raise UnknownBarcode("corrections.gs1", f"barcodes[{g.barcode}] does not exist: the result has "
                                 f"{len(barcodes)} barcodes")
        check_gs1(g.ai, g.value)
        elements = (barcodes[g.barcode].get("gs1") or {}).get("elements") or []
        found = [e for e in elements if e.get("ai") == g.ai]
        if not found:
            raise UnknownBarcode("corrections.gs1", f"barcodes[{g.barcode}] carries no AI ({g.ai}); it has "
                                 f"{[e.get('ai') for e in elements] or 'no GS1 data'}")
        old = str(found[0].get("data"))
        if old == g.value:
            continue
        hri = "".join(f"({e.get('ai')}){g.value if e is found[0] else e.get('data')}" for e in elements)
        reparsed = gs1.parse_element_string(hri)
        mine = [e for e in reparsed.get("errors") or [] if e.get("ai") in (g.ai, None)]
        if mine:  # another AI's own fault (not corrected here) does not block this correction
            raise InvalidGs1("corrections.gs1",
                             f"barcodes[{g.barcode}] with ({g.ai}) {g.value} is not valid: {_errors_text(mine)}")
        barcodes[g.barcode]["gs1"] = reparsed
        diff.append({"path": f"barcodes[{g.barcode}].gs1.({g.ai})", "from": old, "to": g.value})


def apply(result: dict[str, Any], fixes: Corrections, *,
          wanted_fields: tuple[str, ...] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the corrected copy, its diff); the first bad correction raises and nothing is kept."""
    out = copy.deepcopy(result)
    diff: list[dict[str, Any]] = []
    _apply_lines(out, fixes, diff)
    _apply_fields(out, fixes, wanted_fields, diff)
    barcodes = out.get("barcodes") or []
    _apply_barcodes(barcodes, fixes, diff)
    _apply_gs1(barcodes, fixes, diff)
    return out, diff
