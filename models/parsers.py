"""HunyuanOCR answer text -> the structured result. Pure functions: no torch, no model.

Both engines (transformers and vLLM) decode to a string and hand it here, so the two can never
disagree about what a given answer means.

Formats (from the official repository's utils and model card):
- spotting: one entry per text line, ``TEXT(x1,y1),(x2,y2)``, entries usually separated by
  newlines; (x1,y1) top-left and (x2,y2) bottom-right, both normalised to 0-1000 of the image.
- fields: a JSON object, often inside a ```json fence.
- everything else: free text (markdown / HTML / LaTeX / Mermaid).
"""

from __future__ import annotations

import json
import re
from typing import Any

from models.base import EngineOutput
from shared.results import Line

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
