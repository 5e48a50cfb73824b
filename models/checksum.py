"""The checksum engine (OCRQ_ENGINE=checksum): no OCR, a fingerprint of the pixels it was given.

Why it exists: to test and measure everything *around* the engine (queues, storage, the backfill
planner, dedup, crash recovery) at thousands of items per minute on a CPU. Its answer is a pure
function of the decoded image, so a test can compute the expected result of every item itself and
tell "ran twice with the same result" from "ran twice with a different one". It goes through the
same registry, worker, runner and result schema as the real engines; it never reads any text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from models.base import EngineError, EngineOutput, EngineRequest
from shared.engines import ENGINES
from shared.results.model import Line

if TYPE_CHECKING:
    from shared.infra.settings import Settings


def checksum_text(image: object) -> str:
    """What the engine answers for an (already decoded, upright, RGB) image: 'WxH sha256[:16]'."""
    from PIL import Image

    assert isinstance(image, Image.Image)
    rgb = image.convert("RGB")
    return f"{rgb.size[0]}x{rgb.size[1]} {hashlib.sha256(rgb.tobytes()).hexdigest()[:16]}"


class ChecksumEngine:
    name = "checksum"
    version = "checksum-1"
    tasks = ENGINES["checksum"].tasks

    @classmethod
    def from_settings(cls, settings: Settings) -> ChecksumEngine:  # the loader shared/engines.py names
        return cls()

    def run(self, requests: Sequence[EngineRequest]) -> list[EngineOutput | EngineError]:
        outputs: list[EngineOutput | EngineError] = []
        for req in requests:
            if req.spec.task not in self.tasks:
                outputs.append(EngineError("unsupported_task", f"checksum cannot do task '{req.spec.task}'"))
                continue
            text = checksum_text(req.image)
            w, h = req.image.size
            outputs.append(EngineOutput(text=text, lines=[Line(text=text, box=(0, 0, w, h), confidence=1.0)]))
        return outputs
