"""The transformers engine's glue to our decode loop (``OCRQ_DECODER=slots``, the default).

The loop itself is models/slots.py (the scheduler's thread, slots of a static KV cache) and
models/decoder_step.py (one step over all slots, a CUDA graph per bucket). Here: building that
scheduler for the loaded model, prefilling one request eagerly (vision tower and prompt), and
turning the scheduler's answers into token ids or per-request EngineErrors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from models.base import EngineError
from models.hunyuan_device import is_cuda_oom, sdpa_backends
from models.hunyuan_inputs import Answer, Prepared

log = logging.getLogger("models.hunyuan")  # the engine's logger: operators grep one name


def make_scheduler(
    model: Any,
    *,
    eos_ids: list[int],
    max_new_tokens: int,
    slots: int,
    slot_tokens: int,
    check_every: int,
    compile_step: bool,
) -> Any:
    """A SlotScheduler over the model's text decoder, sized from its config."""
    from models.decoder_step import DecoderStep, Geometry
    from models.generation import REPETITION_PENALTY, TailStop
    from models.slots import SlotScheduler

    cfg = model.config.text_config
    geometry = Geometry(
        layers=cfg.num_hidden_layers,
        kv_heads=cfg.num_key_value_heads,
        q_heads=cfg.num_attention_heads,
        head_dim=getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads,
        vocab=cfg.vocab_size,
        slots=slots,
        slot_tokens=slot_tokens,
        out_tokens=max_new_tokens + check_every,
    )
    step = DecoderStep(model, geometry, eos_ids=eos_ids, repetition_penalty=REPETITION_PENALTY,
                       compile_step=compile_step)
    return SlotScheduler(step, check_every=check_every, tail_check=TailStop)


def prefill(model: Any, device: str, item: Prepared) -> Any:
    """Vision tower + prompt for one request, eagerly: its K/V, last logits and RoPE offset."""
    import torch

    from models.slots import Prefilled

    inputs = item.inputs.to(device)
    with sdpa_backends(device):
        out = model(**inputs, use_cache=True, logits_to_keep=1)
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    layers = cache.layers
    deltas = model.model.rope_deltas
    return Prefilled(
        keys=[layer.keys[0] for layer in layers],
        values=[layer.values[0] for layer in layers],
        logits=out.logits[0, -1].float(),
        prompt_ids=inputs["input_ids"][0],
        rope_delta=int(deltas[0, 0]) if isinstance(deltas, torch.Tensor) else 0,
    )


def slot_answers(
    scheduler: Any,
    items: Sequence[Prepared],
    cap: int,
    *,
    prefill: Callable[[Prepared], Any],
    decode: Callable[[list[int]], str],
) -> list[Answer | EngineError]:
    """Submit every item to the scheduler at once (they decode beside other callers'), then wait."""
    from models.slots import DecodeRequest

    futures: list[Future[Any]] = []
    for item in items:
        req = DecodeRequest(
            prefill=lambda item=item: prefill(item),  # type: ignore[misc]
            prompt_tokens=item.prompt_tokens,
            max_new_tokens=cap,
            decode=decode,
            cancelled=item.cancelled,
        )
        futures.append(scheduler.submit(req))
    return [_answer(fut) for fut in futures]


def _answer(fut: Future[Any]) -> Answer | EngineError:
    """One request's token ids, or why it has none: each request fails alone."""
    from models.slots import PromptTooLong

    try:
        res = fut.result()
    except PromptTooLong as err:
        return EngineError("prompt_too_long", str(err))
    except Exception as err:  # noqa: BLE001 - a failed request fails alone
        if is_cuda_oom(err):
            return EngineError("out_of_memory", "GPU out of memory on this image even alone")
        log.error("hunyuan: decoding failed on one input: %s", err)
        return EngineError("inference_failed", f"{err.__class__.__name__}: {err}"[:500])
    if res.reason == "cancelled":
        return EngineError("canceled", "the job was canceled while decoding")
    return (res.tokens, res.ended)
