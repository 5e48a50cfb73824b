"""RapidOCR (PP-OCR ONNX models shipped inside the `rapidocr` wheel): the CPU engine.

It needs no download and no GPU, so it is the embedded default and the engine the tests use.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from importlib.metadata import version as pkg_version
from typing import TYPE_CHECKING

import numpy as np

from models.base import EngineError, EngineOutput, EngineRequest
from shared.engines import ENGINES
from shared.results.model import Line

if TYPE_CHECKING:
    from shared.infra.settings import Settings


class RapidOcrEngine:
    name = "rapidocr"
    tasks = ENGINES["rapidocr"].tasks

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        # The wheel resolves its bundled model files itself; log_level keeps it from chatting per image.
        self._ocr = RapidOCR(params={"Global.log_level": "error"})
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self.version = f"rapidocr-{pkg_version('rapidocr')}"
        self._lock = threading.Lock()  # the ONNX sessions are not documented as re-entrant

    @classmethod
    def from_settings(cls, settings: Settings) -> RapidOcrEngine:  # the loader shared/engines.py names
        return cls()

    def run(self, requests: Sequence[EngineRequest]) -> list[EngineOutput | EngineError]:
        outputs: list[EngineOutput | EngineError] = []
        for req in requests:
            if req.spec.task not in self.tasks:
                outputs.append(EngineError("unsupported_task", f"rapidocr cannot do task '{req.spec.task}'"))
                continue
            arr = np.asarray(req.image.convert("RGB"))[:, :, ::-1]  # RapidOCR expects BGR like OpenCV
            with self._lock:
                res = self._ocr(np.ascontiguousarray(arr))
            outputs.append(_to_output(res))
        return outputs


def _to_output(res: object) -> EngineOutput:
    boxes = getattr(res, "boxes", None)
    txts = getattr(res, "txts", None)
    scores = getattr(res, "scores", None)
    if boxes is None or txts is None:
        return EngineOutput(text="", lines=[])
    lines: list[Line] = []
    for quad, text, score in zip(boxes, txts, scores or [None] * len(txts), strict=True):
        pts = [(int(round(float(x))), int(round(float(y)))) for x, y in quad]
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        lines.append(
            Line(
                text=str(text),
                box=(min(xs), min(ys), max(xs), max(ys)),
                polygon=pts,
                confidence=None if score is None else round(float(score), 4),
            )
        )
    return EngineOutput(text=reading_order_text(lines), lines=lines)


def reading_order_text(lines: list[Line]) -> str:
    """Rows top to bottom, boxes left to right within a row, joined by spaces.

    The detector often returns one box per word or price column; a receipt line such as
    "TOTAL 9.00" must still read as one line of text.
    """
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        cy = (line.box[1] + line.box[3]) / 2
        if rows:
            last = rows[-1]
            top = min(ln.box[1] for ln in last)
            bottom = max(ln.box[3] for ln in last)
            height = max(1, bottom - top)
            # Same row when the centre falls inside the row's band, shrunk a little against skew.
            if top + 0.2 * height <= cy <= bottom - 0.2 * height:
                last.append(line)
                continue
        rows.append([line])
    return "\n".join(" ".join(ln.text for ln in sorted(row, key=lambda ln: ln.box[0])) for row in rows)
