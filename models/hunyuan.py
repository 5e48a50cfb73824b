"""HunyuanOCR through transformers: the GPU engine (it also runs, slowly, on a CPU).

One process loads the model once; ``run`` turns a batch of requests into ONE left-padded
``generate`` call, which is where a GPU earns its keep. Inputs that cannot be processed fail
alone: images are checked one by one before batching, and a batch that still fails (CUDA out of
memory above all) is split in halves and retried, recursively, down to the single culprit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from models import parsers, prompts
from models.base import EngineError, EngineLoadError, EngineOutput, EngineRequest
from models.checkpoints import verify
from shared.settings import Settings
from shared.tasks import ENGINE_TASKS

log = logging.getLogger(__name__)

T = TypeVar("T")
Result = EngineOutput | EngineError


def is_cuda_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError)


def run_split(
    items: Sequence[T],
    fn: Callable[[Sequence[T]], list[Result]],
    *,
    on_split: Callable[[], None] | None = None,
) -> list[Result]:
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
    return results


@dataclass(frozen=True)
class Prepared:
    """A request that passed the per-item checks: upright RGB image plus its prompt text."""

    index: int
    image: Image.Image
    task: str
    prompt_text: str


def check_image(image: Image.Image) -> Image.Image:
    """RGB copy of a usable image, or ValueError (decoded lazily, so corrupt data surfaces here)."""
    image.load()
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError(f"image has no pixels ({width}x{height})")
    return image if image.mode == "RGB" else image.convert("RGB")


def sdpa_backends(device: str) -> Any:
    """The SDPA backends generate may use: on CUDA, every one but cuDNN attention.

    PyTorch picks cuDNN attention on Hopper GPUs, and cuDNN builds an execution plan for every new
    query/key shape. Decoding grows the key length by one token per step and prompt lengths vary
    per image, so nearly every step of an answer is a new shape and pays a plan build: on an H100
    that tripled the time per decode step (see docs/hunyuan.md, "Measured"). Flash and
    memory-efficient attention need no per-shape setup.
    """
    if not device.startswith("cuda"):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def _select_device(requested: str | None) -> str:
    import torch

    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


class HunyuanEngine:
    name = "hunyuan"
    tasks = ENGINE_TASKS["hunyuan"]

    def __init__(self, model: Any, processor: Any, *, device: str, max_new_tokens: int, version: str) -> None:
        self.model = model
        self.processor = processor
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.version = version
        self._lock = threading.Lock()  # one generate at a time: the model and its rope state are shared
        tok = processor.tokenizer
        tok.padding_side = "left"  # decoder-only batching: every row's answer starts at the same column
        gen = model.generation_config
        self._eos_ids = _as_list(gen.eos_token_id if gen.eos_token_id is not None else tok.eos_token_id)
        self._pad_id = gen.pad_token_id if gen.pad_token_id is not None else tok.pad_token_id

    # ---------------------------------------------------------------- loading

    @classmethod
    def from_settings(cls, settings: Settings) -> HunyuanEngine:
        return cls.load(
            settings.model_path,
            attn_implementation=settings.attn_implementation,
            max_new_tokens=settings.max_new_tokens,
        )

    @classmethod
    def load(
        cls,
        model_path: str,
        *,
        attn_implementation: str = "sdpa",
        max_new_tokens: int = 4096,
        device: str | None = None,
    ) -> HunyuanEngine:
        problems = verify(model_path)
        if problems:
            raise EngineLoadError(f"HunyuanOCR weights at '{model_path}' unusable: {'; '.join(problems)}")
        import torch
        import transformers
        from transformers import AutoProcessor, HunYuanVLForConditionalGeneration

        device = _select_device(device)
        on_cuda = device.startswith("cuda")
        if not on_cuda and attn_implementation.startswith("flash_attention"):
            log.warning("hunyuan: %s needs CUDA; using sdpa on %s", attn_implementation, device)
            attn_implementation = "sdpa"
        try:
            processor = AutoProcessor.from_pretrained(model_path, local_files_only=True)
            model = HunYuanVLForConditionalGeneration.from_pretrained(
                model_path,
                local_files_only=True,
                # bf16 halves memory and is what the model was released in; CPUs lack fast bf16 matmuls.
                dtype=torch.bfloat16 if on_cuda else torch.float32,
                attn_implementation=attn_implementation,
            )
        except Exception as err:  # noqa: BLE001 - any load failure becomes one operator line
            first = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
            raise EngineLoadError(f"HunyuanOCR could not load from '{model_path}': {first}") from err
        model.to(device).eval()  # type: ignore[arg-type]  # transformers wraps .to(); mypy misreads its signature
        version = f"hunyuanocr:{Path(model_path).resolve().name}+transformers-{transformers.__version__}"
        log.info("hunyuan: loaded %s on %s (%s)", model_path, device, attn_implementation)
        return cls(model, processor, device=device, max_new_tokens=max_new_tokens, version=version)

    def warmup(self) -> None:
        """One tiny generate: CUDA kernels, allocator pools and lazy inits happen here, not on job one."""
        image = Image.new("RGB", (64, 64), "white")
        warm = Prepared(0, image, "text", self._prompt_text(image, prompts.PROMPTS["text"]))
        self._generate([warm], max_new_tokens=2)

    # ---------------------------------------------------------------- running

    def run(self, requests: Sequence[EngineRequest]) -> list[Result]:
        results: list[Result | None] = [None] * len(requests)
        ready: list[Prepared] = []
        for i, req in enumerate(requests):
            item = self._prepare(i, req)
            if isinstance(item, EngineError):
                results[i] = item
            else:
                ready.append(item)
        if ready:
            with self._lock:
                outs = run_split(ready, self._generate, on_split=self._free_cache)
            for item, out in zip(ready, outs, strict=True):
                results[item.index] = out
        return [r for r in results if r is not None]

    def _prepare(self, index: int, req: EngineRequest) -> Prepared | EngineError:
        if req.spec.task not in self.tasks:
            return EngineError("unsupported_task", f"hunyuan cannot do task '{req.spec.task}'")
        try:
            image = check_image(req.image)
        except Exception as err:  # noqa: BLE001 - PIL raises many types for bad data
            return EngineError("bad_image", f"cannot read image: {err}"[:300])
        try:
            prompt_text = self._prompt_text(image, prompts.build_prompt(req.spec))
        except Exception as err:  # noqa: BLE001
            return EngineError("bad_request", f"cannot build prompt: {err}"[:300])
        return Prepared(index, image, req.spec.task, prompt_text)

    def _prompt_text(self, image: Image.Image, prompt: str) -> str:
        return self.processor.apply_chat_template(
            prompts.build_messages(image, prompt), tokenize=False, add_generation_prompt=True
        )

    def _free_cache(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _generate(self, items: Sequence[Prepared], max_new_tokens: int | None = None) -> list[Result]:
        """One batched, greedy generate over ``items``; one output per item, in order."""
        import torch
        from transformers import StoppingCriteriaList

        from models.generation import (
            REPETITION_PENALTY,
            TailRepetitionStop,
            clean_repeated_substrings,
        )

        cap = max_new_tokens or self.max_new_tokens
        inputs = self.processor(
            text=[it.prompt_text for it in items],
            images=[it.image for it in items],
            padding=True,
            return_tensors="pt",
        ).to(self.device)
        prompt_len = int(inputs["input_ids"].shape[1])
        with torch.inference_mode(), sdpa_backends(self.device):
            out = self.model.generate(
                **inputs,
                max_new_tokens=cap,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                repetition_penalty=REPETITION_PENALTY,
                stopping_criteria=StoppingCriteriaList([TailRepetitionStop(prompt_len)]),
                eos_token_id=self._eos_ids,
                pad_token_id=self._pad_id,
            )
        new_tokens = out[:, prompt_len:].cpu()
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        results: list[Result] = []
        for item, row, text in zip(items, new_tokens, texts, strict=True):
            # Not ended by EOS means cut off: by the token cap or by the tail-repetition stop.
            ended = any(int(t) in self._eos_ids for t in row.tolist())
            width, height = item.image.size
            results.append(
                parsers.to_output(item.task, clean_repeated_substrings(text), width, height, truncated=not ended)
            )
        return results


def _as_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]
