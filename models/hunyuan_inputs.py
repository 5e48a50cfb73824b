"""A request's inputs for the transformers engine: the checked image, its prompt, its tensors.

``Prepared`` is what both decoders (models/hunyuan_slots.py, models/hunyuan_generate.py) take;
``fit_to_slot`` makes the tensors for the decode loop, shrinking an image whose vision tokens
would leave no room in a slot for the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from models.base import EngineError

Answer = tuple[list[int], bool]  # generated token ids (EOS dropped), and whether EOS ended them


@dataclass(frozen=True)
class Prepared:
    """A request that passed the per-item checks: upright RGB image plus its prompt text.

    ``inputs`` are the processor's tensors (CPU) for this request alone, made in the caller's thread;
    ``resized_from`` is the size the image had before it was shrunk to fit a slot.
    """

    index: int
    image: Image.Image
    task: str
    prompt_text: str
    inputs: Any = None
    cancelled: Callable[[], bool] | None = None
    resized_from: tuple[int, int] | None = None

    @property
    def prompt_tokens(self) -> int:
        return int(self.inputs["input_ids"].shape[1]) if self.inputs is not None else 0


def check_image(image: Image.Image) -> Image.Image:
    """RGB copy of a usable image, or ValueError (decoded lazily, so corrupt data surfaces here)."""
    image.load()
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError(f"image has no pixels ({width}x{height})")
    return image if image.mode == "RGB" else image.convert("RGB")


def fit_to_slot(
    item: Prepared, slot_tokens: int, processor_inputs: Callable[[Image.Image, str], Any]
) -> Prepared | EngineError:
    """The request's tensors; an image whose vision tokens would not leave room for an answer is
    scaled down until they do (the result says so), rather than failing or exhausting memory."""
    # At least a quarter of a slot (and 256 tokens) stays free for the answer.
    budget = slot_tokens - max(256, slot_tokens // 4)
    image, resized_from = item.image, None
    inputs = processor_inputs(image, item.prompt_text)
    for _ in range(8):
        tokens = int(inputs["input_ids"].shape[1])
        if tokens <= budget:
            return replace(item, image=image, inputs=inputs, resized_from=resized_from)
        scale = (budget / tokens) ** 0.5 * 0.95
        resized_from = resized_from or item.image.size
        width, height = max(32, int(image.width * scale)), max(32, int(image.height * scale))
        if (width, height) == image.size:
            break
        image = item.image.resize((width, height), Image.Resampling.BICUBIC)
        inputs = processor_inputs(image, item.prompt_text)
    return EngineError("prompt_too_long", f"the prompt needs {int(inputs['input_ids'].shape[1])} tokens; "
                                          f"a slot holds {slot_tokens} (OCRQ_SLOT_LENGTH)")
