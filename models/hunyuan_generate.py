"""The transformers engine's eager decoder (``OCRQ_DECODER=generate``): one left-padded ``generate`` per batch.

It is the reference the decode loop (models/hunyuan_slots.py) is held to token for token
(tests/unit/test_decode_loop.py) and the baseline of bench/engine.py. A batch that fails (CUDA OOM on
long prompts or answers, or an input that trips the model) is retried in halves by ``run_split``,
so only the failing inputs fail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from models.base import EngineError
from models.hunyuan_device import is_cuda_oom, sdpa_backends
from models.hunyuan_inputs import Answer, Prepared

log = logging.getLogger("models.hunyuan")  # the engine's logger: operators grep one name

T = TypeVar("T")
R = TypeVar("R")


def run_split(
    items: Sequence[T],
    fn: Callable[[Sequence[T]], Sequence[R | EngineError]],
    *,
    on_split: Callable[[], None] | None = None,
) -> list[R | EngineError]:
    """``fn(items)``; if it raises, retry each half recursively so only the failing items fail.

    CUDA OOM is the expected reason (long prompts or answers in a large batch); any other exception
    is treated the same way because one input that trips the model must not fail its neighbours.
    A single item that still fails becomes its EngineError. ``on_split`` runs before each retry
    (the engine frees the CUDA cache there).
    """
    try:
        results = fn(items)
    except Exception as err:  # noqa: BLE001 - isolating failures is the point
        if len(items) == 1:
            if is_cuda_oom(err):
                return [EngineError("out_of_memory", "GPU out of memory on this image even alone")]
            log.exception("hunyuan: inference failed on one input")
            return [EngineError("inference_failed", f"{err.__class__.__name__}: {err}"[:500])]
        log.warning("hunyuan: batch of %d failed (%s); retrying in halves", len(items), err.__class__.__name__)
        if on_split is not None:
            on_split()
        mid = len(items) // 2
        return run_split(items[:mid], fn, on_split=on_split) + run_split(items[mid:], fn, on_split=on_split)
    if len(results) != len(items):
        raise RuntimeError(f"batch of {len(items)} returned {len(results)} results")
    return list(results)


def generate_answers(
    model: Any,
    processor: Any,
    items: Sequence[Prepared],
    cap: int,
    *,
    device: str,
    eos_ids: list[int],
    pad_id: int | None,
    decode: Callable[[list[int]], str],
) -> list[Answer]:
    """One batched, left-padded, greedy ``generate`` over ``items``; one answer per item, in order."""
    import torch
    from transformers import StoppingCriteriaList

    from models.generation import REPETITION_PENALTY, TailRepetitionStop

    inputs = processor(
        text=[it.prompt_text for it in items],
        images=[it.image for it in items],
        padding=True,
        return_tensors="pt",
    ).to(device)
    prompt_len = int(inputs["input_ids"].shape[1])
    with torch.inference_mode(), sdpa_backends(device):
        out = model.generate(
            **inputs,
            max_new_tokens=cap,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            repetition_penalty=REPETITION_PENALTY,
            stopping_criteria=StoppingCriteriaList([TailRepetitionStop(prompt_len, decode=decode)]),
            eos_token_id=eos_ids,
            pad_token_id=pad_id,
        )
    answers: list[Answer] = []
    for row in out[:, prompt_len:].cpu().tolist():
        # Not ended by EOS means cut off: by the token cap or by the tail-repetition stop.
        cut = next((i for i, t in enumerate(row) if t in eos_ids), None)
        answers.append((row[:cut], True) if cut is not None else (row, False))
    return answers
