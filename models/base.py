"""The engine protocol: what the job runner and `ocrq ocr` need from any OCR engine.

An engine receives already-decoded, upright, size-bounded RGB images and returns lines in the
coordinates of the image it was given; the job runner maps them back to the original image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image

from shared.jobs.task_spec import TaskSpec
from shared.results.model import Line


@dataclass(frozen=True)
class EngineRequest:
    image: Image.Image
    spec: TaskSpec
    # Polled while the request decodes; True frees its slot at the next check (engines that can).
    cancelled: Callable[[], bool] | None = None


@dataclass
class EngineOutput:
    text: str
    lines: list[Line] = field(default_factory=list)
    markdown: str | None = None
    fields: dict[str, Any] | None = None
    raw: str | None = None
    truncated: bool = False
    vision_tokens: int | None = None  # what the image cost the model (VLM engines)
    resized_from: tuple[int, int] | None = None  # the engine shrank the image from this size to fit


class EngineLoadError(Exception):
    """The engine cannot start (missing weights, missing package); one line for the operator."""


class EngineError(Exception):
    """The engine could not process one input (as opposed to a crash of the engine itself)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Engine(Protocol):
    name: str
    version: str
    tasks: frozenset[str]

    def run(self, requests: Sequence[EngineRequest]) -> list[EngineOutput | EngineError]:
        """Process a batch; one output (or the error of that one input) per request, in order."""
        ...
