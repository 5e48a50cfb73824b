"""HunyuanOCR answer text -> the structured result. Pure functions: no torch, no model.

Both engines (transformers and vLLM) decode to a string and hand it here, so the two can never
disagree about what a given answer means.

Formats (from the official repository's utils, clients and reward scorers, and the model card):
- spotting: one entry per text line, ``TEXT(x1,y1),(x2,y2)``, entries usually separated by
  newlines; (x1,y1) top-left and (x2,y2) bottom-right, both normalised to 0-1000 of the image.
- spotting_json (1.5): a JSON array of ``{"box": [xmin, ymin, xmax, ymax], "text": "..."}``, box
  normalised to 0-1000 (the prompt spells the format out).
- layout, layout_parse (1.5): a JSON array of ``{"layout_type": "...", "bbox": "(x1,y1),(x2,y2),
  (x3,y3),(x4,y4)", "text": "..."}`` (a quadrilateral normalised to 0-1000; ``text`` is the
  block's markdown / HTML / LaTeX in layout_parse, usually absent in layout), or the older
  ``TEXT<hy-meta><layout>TYPE</layout><poly>(x,y),...</poly></hy-meta>`` form (``<quad>`` too);
  train_verl/reward/task_scorers/layout.py of the official repository reads both.
- fields: a JSON object, often inside a ```json fence.
- everything else: free text (markdown / HTML / LaTeX / Mermaid).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from models.base import EngineOutput
from shared.results.model import Line

NORM = 1000  # HunyuanOCR's coordinate range for both axes

# A coordinate pair `(x1,y1),(x2,y2)`. Matching the pair (rather than the official
# `([^()]+)(...)`) lets a line's own text contain parentheses: "Total (USD)(10,20),(90,40)".
_BOX = re.compile(
    r"\(\s*(\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)\s*\)\s*,?\s*\(\s*(\d+(?:\.\d+)?)\s*,\s*(\d+(?:\.\d+)?)\s*\)"
)
_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n?(.*?)\n?```\s*$", re.DOTALL)
_OPEN_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n")


def _to_pixel(value: float, size: int) -> int:
    """0-1000 -> pixel index in [0, size-1]; values past 1000 (a model slip) clamp to the edge."""
    v = min(max(value, 0.0), float(NORM))
    return min(max(int(round(v * size / NORM)), 0), max(size - 1, 0))


def parse_spotting(text: str, width: int, height: int) -> list[Line]:
    """Spotting answer -> lines with pixel boxes on a ``width`` x ``height`` image.

    Robust to what greedy decoding really produces: missing newlines between entries, stray
    spaces, a truncated last entry (dropped), coordinates beyond 1000 (clamped) and corners given
    in the wrong order (normalised). Entries with no text are dropped.
    """
    lines: list[Line] = []
    start = 0
    for m in _BOX.finditer(text):
        label = text[start : m.start()].strip()
        start = m.end()
        if not label:
            continue
        x1, y1, x2, y2 = (float(g) for g in m.groups())
        px0, px1 = sorted((_to_pixel(x1, width), _to_pixel(x2, width)))
        py0, py1 = sorted((_to_pixel(y1, height), _to_pixel(y2, height)))
        lines.append(
            Line(
                text=label,
                box=(px0, py0, px1, py1),
                polygon=[(px0, py0), (px1, py0), (px1, py1), (px0, py1)],
                confidence=None,  # a generative model gives no calibrated per-line score
            )
        )
    return lines


Box = tuple[int, int, int, int]


def _pixel_box(points: list[tuple[float, float]], width: int, height: int) -> tuple[Box, list[tuple[int, int]]]:
    """Normalised points (2 opposite corners, or a polygon) -> pixel box and 4-point (or n-point) polygon."""
    px = [(_to_pixel(x, width), _to_pixel(y, height)) for x, y in points]
    xs, ys = [p[0] for p in px], [p[1] for p in px]
    box = (min(xs), min(ys), max(xs), max(ys))
    if len(px) == 2:
        px = [(box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])]
    return box, px


_POINT = re.compile(r"\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _points(value: object) -> list[tuple[float, float]] | None:
    """A box/bbox value in any form the model writes -> its points, or None when unreadable.

    ``[x1, y1, x2, y2]``, ``[[x, y], ...]``, ``"(x1,y1),(x2,y2),..."`` or a JSON string of a list.
    """
    if isinstance(value, str):
        found = [(float(x), float(y)) for x, y in _POINT.findall(value)]
        if found:
            return found if len(found) >= 2 else None
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list):
        return None
    if len(value) == 4 and all(_is_number(v) for v in value):
        return [(float(value[0]), float(value[1])), (float(value[2]), float(value[3]))]
    pts = [p for p in value if isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p)]
    if len(pts) == len(value) and len(pts) >= 2:
        return [(float(p[0]), float(p[1])) for p in pts]
    return None


def _json_items(text: str) -> list[dict[str, Any]]:
    """The objects of a JSON array answer, salvaging what can be read from a broken or truncated one.

    A cap-truncated answer loses only its unfinished last object; an object the decoder cannot read
    (an unescaped quote in a cell's HTML, say) is skipped and reading resumes at the next one.
    """
    body = strip_code_fence(text)
    start = body.find("[")
    if start < 0:
        return []
    try:
        whole = json.loads(body[start : body.rfind("]") + 1])
        if isinstance(whole, list):
            return [item for item in whole if isinstance(item, dict)]
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    items: list[dict[str, Any]] = []
    i = body.find("{", start)
    while i >= 0:
        try:
            value, end = decoder.raw_decode(body, i)
        except ValueError:
            i = body.find('{"', i + 1)
            continue
        if isinstance(value, dict):
            items.append(value)
        i = body.find("{", end)
    return items


def parse_spotting_json(text: str, width: int, height: int) -> list[Line]:
    """spotting_json answer (1.5) -> lines with pixel boxes, like parse_spotting; entries without text dropped."""
    lines: list[Line] = []
    for item in _json_items(text):
        label = item.get("text")
        points = _points(item.get("box", item.get("bbox")))
        if not isinstance(label, str) or not label.strip() or points is None:
            continue
        box, polygon = _pixel_box(points, width, height)
        lines.append(Line(text=label.strip(), box=box, polygon=polygon, confidence=None))
    return lines


@dataclass(frozen=True)
class LayoutBlock:
    """One region of a layout answer, in reading order, in pixels of the image it was read from."""

    type: str  # the model's layout label as written (e.g. "text", "title", "table", "figure")
    box: Box
    polygon: list[tuple[int, int]]
    text: str  # the block's content (layout_parse), "" when the answer gives none (usual in layout)


_HY_META = re.compile(r"<hy-meta>(.*?)(?:</hy-meta>|$)", re.DOTALL)
_HY_LAYOUT = re.compile(r"<layout>\s*([^<]*?)\s*(?:</layout>|(?=<)|$)")
_HY_GEOMETRY = re.compile(r"<(quad|poly)>([^<]*)")


def _hy_meta_entries(text: str) -> list[tuple[object, object, object]]:
    """(type, points text, block text) per ``TEXT<hy-meta>...</hy-meta>`` block: the text before its tag."""
    entries: list[tuple[object, object, object]] = []
    body_start = 0
    for m in _HY_META.finditer(text):
        layout, geometry = _HY_LAYOUT.search(m.group(1)), _HY_GEOMETRY.search(m.group(1))
        if layout and geometry:
            entries.append((layout.group(1), geometry.group(2), text[body_start : m.start()]))
        body_start = m.end()
    return entries


def parse_layout(text: str, width: int, height: int) -> list[LayoutBlock]:
    """layout / layout_parse answer (1.5) -> its blocks in reading order; unreadable entries dropped."""
    entries: list[tuple[object, object, object]]
    if "<hy-meta>" in text:
        entries = _hy_meta_entries(text)
    else:
        entries = [(item.get("layout_type"), item.get("bbox", item.get("box")), item.get("text", ""))
                   for item in _json_items(text)]
    blocks: list[LayoutBlock] = []
    for kind, raw_points, content in entries:
        points = _points(raw_points)
        if not isinstance(kind, str) or not kind.strip() or points is None:
            continue
        box, polygon = _pixel_box(points, width, height)
        blocks.append(LayoutBlock(kind.strip(), box, polygon, content.strip() if isinstance(content, str) else ""))
    return blocks


def _layout_output(task: str, text: str, width: int, height: int, truncated: bool) -> EngineOutput:
    """layout: one line per region, its text the region's layout type; layout_parse: the blocks' content
    joined in reading order as markdown, one line per block that has content."""
    blocks = parse_layout(text, width, height)
    if not blocks:
        if task == "layout_parse":  # a plain markdown answer (no layout information) is still the page
            body = strip_code_fence(text)
            return EngineOutput(text=body, markdown=body or None, truncated=truncated)
        return EngineOutput(text="", raw=text or None, truncated=truncated)
    if task == "layout":
        lines = [Line(text=b.type, box=b.box, polygon=b.polygon) for b in blocks]
        contents = [b.text for b in blocks if b.text]
        markdown = "\n\n".join(contents) if contents else None
        return EngineOutput(text="\n".join(b.type for b in blocks), lines=lines, markdown=markdown, truncated=truncated)
    lines = [Line(text=b.text, box=b.box, polygon=b.polygon) for b in blocks if b.text]
    markdown = "\n\n".join(b.text for b in blocks if b.text)
    return EngineOutput(text=markdown, lines=lines, markdown=markdown, truncated=truncated)


def strip_code_fence(text: str) -> str:
    """Unwrap an answer that is one fenced block (```json ... ```), also when the closing fence was cut off."""
    m = _FENCE.match(text)
    if m:
        return m.group(1).strip()
    m = _OPEN_FENCE.match(text)
    if m and "```" not in text[m.end() :]:
        return text[m.end() :].strip()
    return text.strip()


def _json_candidates(text: str) -> list[str]:
    body = strip_code_fence(text)
    out = [body]
    # Stray text around the object ("Here is the JSON: {...} Hope this helps"): take the outermost braces.
    first, last = body.find("{"), body.rfind("}")
    if 0 <= first < last:
        out.append(body[first : last + 1])
    fenced = re.search(r"```(?:json)?\s*\n?(.*?)```", text, re.DOTALL)
    if fenced:
        out.append(fenced.group(1).strip())
    return out


def parse_fields(text: str) -> dict[str, Any] | None:
    """The JSON object of a fields answer, or None when there is none (the caller keeps ``raw``)."""
    for candidate in _json_candidates(text):
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict):
            return value
    return None


def to_output(task: str, text: str, width: int, height: int, *, truncated: bool = False) -> EngineOutput:
    """Build the engine output for one task from the model's (already cleaned) answer."""
    text = text.strip()
    if task == "spotting":
        lines = parse_spotting(text, width, height)
        return EngineOutput(
            text="\n".join(line.text for line in lines),
            lines=lines,
            # Nothing recognisable as `text(x,y),(x,y)`: keep the answer so nothing is lost silently.
            raw=text if text and not lines else None,
            truncated=truncated,
        )
    if task == "spotting_json":
        lines = parse_spotting_json(text, width, height)
        return EngineOutput(
            text="\n".join(line.text for line in lines), lines=lines, raw=text if text and not lines else None,
            truncated=truncated,
        )
    if task in ("layout", "layout_parse"):
        return _layout_output(task, text, width, height, truncated)
    if task == "fields":
        fields = parse_fields(text)
        body = strip_code_fence(text)
        if fields is None:
            return EngineOutput(text=body, fields=None, raw=text or None, truncated=truncated)
        return EngineOutput(
            text=json.dumps(fields, ensure_ascii=False, indent=2), fields=fields, truncated=truncated
        )
    body = strip_code_fence(text) if task in ("table", "formula", "chart") else text
    if task in ("parse", "table"):
        # Markdown may embed HTML, so an HTML table is valid markdown as it stands.
        return EngineOutput(text=body, markdown=body, truncated=truncated)
    return EngineOutput(text=body, truncated=truncated)
