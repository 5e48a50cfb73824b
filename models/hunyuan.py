"""HunyuanOCR through transformers: the GPU engine (it also runs, slowly, on a CPU).

One process loads the model once. Two decoders share the loading, prompts and parsing:

- ``slots`` (the default): our own decode loop (models/slots.py, models/decoder_step.py). Each
  request is prefilled alone, then decodes in a slot of a static KV cache beside the others, with a
  CUDA graph per (slots, length) bucket; a finished request frees its slot for the next one. ``run``
  may be called from many threads at once: their requests share the slots (continuous batching).
- ``generate``: transformers' eager ``generate`` over one left-padded batch per ``run`` call. It is
  the reference the decode loop is held to token for token (tests/test_decode_loop.py) and the
  baseline of bench/engine.py.

Inputs are prepared (pixels, token ids) in the caller's thread, so a worker's task threads do that
work while the decode thread keeps the GPU busy. Inputs that cannot be processed fail alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from PIL import Image

from models import parsers, prompts
from models.base import EngineError, EngineLoadError, EngineOutput, EngineRequest
from models.checkpoints import verify
from models.recipe import DEFAULT_VERSION, detect_version
from shared.engines import ENGINES
from shared.infra.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
Result = EngineOutput | EngineError
Answer = tuple[list[int], bool]  # generated token ids (EOS dropped), and whether EOS ended them


def is_cuda_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, torch.cuda.OutOfMemoryError)


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


Decoder = Literal["slots", "generate"]


class HunyuanEngine:
    name = "hunyuan"
    tasks = ENGINES["hunyuan"].tasks

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        device: str,
        max_new_tokens: int,
        version: str,
        decoder: Decoder = "slots",
        slots: int = 8,
        slot_tokens: int = 8192,
        check_every: int = 8,
        compile_step: bool = False,
        eos_ids: Sequence[int] | None = None,
        recipe: str = DEFAULT_VERSION,
    ) -> None:
        self.model = model
        self.recipe = recipe  # "1.0" | "1.5": which official prompts this checkpoint was trained on
        self.processor = processor
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.version = version
        self.decoder = decoder
        self.slot_tokens = slot_tokens
        self._lock = threading.Lock()  # one generate at a time: the model and its rope state are shared
        tok = processor.tokenizer
        tok.padding_side = "left"  # decoder-only batching: every row's answer starts at the same column
        gen = model.generation_config
        # eos_ids overrides the checkpoint's (bench/engine.py times fixed-length answers with it).
        self._eos_ids = list(eos_ids) if eos_ids is not None else _as_list(
            gen.eos_token_id if gen.eos_token_id is not None else tok.eos_token_id)
        self._pad_id = gen.pad_token_id if gen.pad_token_id is not None else tok.pad_token_id
        self.scheduler: Any = None
        if decoder == "slots":
            self.scheduler = self._make_scheduler(slots, slot_tokens, check_every, compile_step)

    @property
    def continuous(self) -> bool:
        """True when concurrent ``run`` calls share the GPU batch (the worker then skips its batcher)."""
        return self.decoder == "slots"

    # ---------------------------------------------------------------- loading

    @classmethod
    def from_settings(cls, settings: Settings) -> HunyuanEngine:
        return cls.load(
            settings.model_path,
            attn_implementation=settings.attn_implementation,
            max_new_tokens=settings.max_new_tokens,
            decoder=settings.decoder,
            slots=settings.batch_max,
            slot_tokens=settings.slot_length,
        )

    @classmethod
    def load(
        cls,
        model_path: str,
        *,
        attn_implementation: str = "sdpa",
        max_new_tokens: int = 4096,
        device: str | None = None,
        decoder: Decoder = "slots",
        slots: int = 8,
        slot_tokens: int = 8192,
        dtype: Any = None,
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
            # backend="pil": the official scripts' image pipeline, whether or not torchvision is installed,
            # so the pixels (and so the answers) do not depend on the environment.
            processor = AutoProcessor.from_pretrained(model_path, local_files_only=True, backend="pil")
            model = HunYuanVLForConditionalGeneration.from_pretrained(
                model_path,
                local_files_only=True,
                # bf16 halves memory and is what the model was released in; CPUs lack fast bf16 matmuls.
                dtype=dtype or (torch.bfloat16 if on_cuda else torch.float32),
                attn_implementation=attn_implementation,
            )
        except Exception as err:  # noqa: BLE001 - any load failure becomes one operator line
            first = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
            raise EngineLoadError(f"HunyuanOCR could not load from '{model_path}': {first}") from err
        model.to(device).eval()  # type: ignore[arg-type]  # transformers wraps .to(); mypy misreads its signature
        # The version is read from config.json as written (transformers' loaded config is always 1.5-shaped).
        recipe = detect_version(json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8")))
        version = f"hunyuanocr:{Path(model_path).resolve().name}+{recipe}+transformers-{transformers.__version__}"
        log.info("hunyuan: loaded %s (HunyuanOCR %s) on %s (%s, decoder %s)", model_path, recipe, device,
                 attn_implementation, decoder)
        return cls(model, processor, device=device, max_new_tokens=max_new_tokens, version=version,
                   decoder=decoder, slots=slots, slot_tokens=slot_tokens, recipe=recipe)

    def _make_scheduler(self, slots: int, slot_tokens: int, check_every: int, compile_step: bool) -> Any:
        from models.decoder_step import DecoderStep, Geometry
        from models.generation import REPETITION_PENALTY, TailStop
        from models.slots import SlotScheduler

        cfg = self.model.config.text_config
        geometry = Geometry(
            layers=cfg.num_hidden_layers,
            kv_heads=cfg.num_key_value_heads,
            q_heads=cfg.num_attention_heads,
            head_dim=getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads,
            vocab=cfg.vocab_size,
            slots=slots,
            slot_tokens=slot_tokens,
            out_tokens=self.max_new_tokens + check_every,
        )
        step = DecoderStep(self.model, geometry, eos_ids=self._eos_ids, repetition_penalty=REPETITION_PENALTY,
                           compile_step=compile_step)
        return SlotScheduler(step, check_every=check_every, tail_check=TailStop)

    def warmup(self) -> None:
        """One tiny request: CUDA kernels, allocator pools and lazy inits happen here, not on job one."""
        image = Image.new("RGB", (64, 64), "white")
        warm = self._prepare(0, EngineRequest(image, _warmup_spec()))
        if isinstance(warm, Prepared):
            self._answer_all([warm], cap=2)

    # ---------------------------------------------------------------- running

    def run(self, requests: Sequence[EngineRequest]) -> list[Result]:
        results: list[Result] = []
        items = [self._prepare(i, req) for i, req in enumerate(requests)]
        for item, answer in zip(items, self._answer_all(items), strict=True):
            if isinstance(answer, EngineError):
                results.append(answer)  # the request's own refusal, or its decoding failure
            else:
                assert isinstance(item, Prepared)  # only a prepared request is decoded
                results.append(self._output(item, *answer))
        return results

    def generate_ids(
        self, requests: Sequence[EngineRequest], max_new_tokens: int | None = None
    ) -> list[Answer | EngineError]:
        """The generated token ids per request (tests and bench/engine.py compare the two decoders)."""
        return self._answer_all([self._prepare(i, r) for i, r in enumerate(requests)], max_new_tokens)

    def _answer_all(
        self, items: Sequence[Prepared | EngineError], cap: int | None = None
    ) -> list[Answer | EngineError]:
        answers: list[Answer | EngineError] = [it for it in items if isinstance(it, EngineError)]
        ready = [it for it in items if isinstance(it, Prepared)]
        if not ready:
            return answers
        cap = cap or self.max_new_tokens
        if self.scheduler is None:
            with self._lock:
                done = run_split(ready, lambda batch: self._generate(batch, cap), on_split=self._free_cache)
        else:
            done = self._slot_answers(ready, cap)
        by_index = {it.index: a for it, a in zip(ready, done, strict=True)}
        errors = iter(answers)
        return [by_index[it.index] if isinstance(it, Prepared) else next(errors) for it in items]

    def _prepare(self, index: int, req: EngineRequest) -> Prepared | EngineError:
        if req.spec.task not in self.tasks:
            return EngineError("unsupported_task", f"hunyuan cannot do task '{req.spec.task}'")
        try:
            image = check_image(req.image)
        except Exception as err:  # noqa: BLE001 - PIL raises many types for bad data
            return EngineError("bad_image", f"cannot read image: {err}"[:300])
        try:
            prompt_text = self._prompt_text(image, prompts.build_prompt(req.spec, self.recipe))
        except EngineError as err:  # a 1.5-only task on a 1.0 checkpoint: unsupported_task
            return err
        except Exception as err:  # noqa: BLE001
            return EngineError("bad_request", f"cannot build prompt: {err}"[:300])
        item = Prepared(index, image, req.spec.task, prompt_text, cancelled=req.cancelled)
        if self.scheduler is None:
            return item  # generate prepares its padded batch itself
        try:
            return self._fit_to_slot(item)
        except Exception as err:  # noqa: BLE001 - the processor rejects some inputs with many types
            return EngineError("bad_image", f"cannot process image: {err}"[:300])

    def _processor_inputs(self, image: Image.Image, prompt_text: str) -> Any:
        return self.processor(text=[prompt_text], images=[image], return_tensors="pt")

    def _fit_to_slot(self, item: Prepared) -> Prepared | EngineError:
        """The request's tensors; an image whose vision tokens would not leave room for an answer is
        scaled down until they do (the result says so), rather than failing or exhausting memory."""
        from dataclasses import replace

        # At least a quarter of a slot (and 256 tokens) stays free for the answer.
        budget = self.slot_tokens - max(256, self.slot_tokens // 4)
        image, resized_from = item.image, None
        inputs = self._processor_inputs(image, item.prompt_text)
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
            inputs = self._processor_inputs(image, item.prompt_text)
        return EngineError("prompt_too_long", f"the prompt needs {int(inputs['input_ids'].shape[1])} tokens; "
                                              f"a slot holds {self.slot_tokens} (OCRQ_SLOT_LENGTH)")

    def _prompt_text(self, image: Image.Image, prompt: str) -> str:
        return self.processor.apply_chat_template(
            prompts.build_messages(image, prompt), tokenize=False, add_generation_prompt=True
        )

    def _free_cache(self) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # ---------------------------------------------------------------- our decode loop

    def _prefill(self, item: Prepared) -> Any:
        """Vision tower + prompt for one request, eagerly: its K/V, last logits and RoPE offset."""
        import torch

        from models.slots import Prefilled

        inputs = item.inputs.to(self.device)
        with sdpa_backends(self.device):
            out = self.model(**inputs, use_cache=True, logits_to_keep=1)
        cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
        layers = cache.layers
        deltas = self.model.model.rope_deltas
        return Prefilled(
            keys=[layer.keys[0] for layer in layers],
            values=[layer.values[0] for layer in layers],
            logits=out.logits[0, -1].float(),
            prompt_ids=inputs["input_ids"][0],
            rope_delta=int(deltas[0, 0]) if isinstance(deltas, torch.Tensor) else 0,
        )

    def _decode_text(self, ids: list[int]) -> str:
        return str(self.processor.tokenizer.decode(ids, skip_special_tokens=True))

    def _slot_answers(self, items: Sequence[Prepared], cap: int) -> list[Answer | EngineError]:
        from models.slots import DecodeRequest, PromptTooLong

        futures: list[Future[Any]] = []
        for item in items:
            req = DecodeRequest(
                prefill=lambda item=item: self._prefill(item),  # type: ignore[misc]
                prompt_tokens=item.prompt_tokens,
                max_new_tokens=cap,
                decode=self._decode_text,
                cancelled=item.cancelled,
            )
            futures.append(self.scheduler.submit(req))
        answers: list[Answer | EngineError] = []
        for fut in futures:
            try:
                res = fut.result()
            except PromptTooLong as err:
                answers.append(EngineError("prompt_too_long", str(err)))
            except Exception as err:  # noqa: BLE001 - a failed request fails alone
                if is_cuda_oom(err):
                    answers.append(EngineError("out_of_memory", "GPU out of memory on this image even alone"))
                else:
                    log.error("hunyuan: decoding failed on one input: %s", err)
                    answers.append(EngineError("inference_failed", f"{err.__class__.__name__}: {err}"[:500]))
            else:
                if res.reason == "cancelled":
                    answers.append(EngineError("canceled", "the job was canceled while decoding"))
                else:
                    answers.append((res.tokens, res.ended))
        return answers

    def _output(self, item: Prepared, ids: list[int], ended: bool) -> EngineOutput:
        from models.generation import CLEANUP_MIN_LENGTH, clean_repeated_substrings

        text = self._decode_text(ids)
        # Spotting coordinates are normalised to 0-1000 of the image the model saw: reading them
        # against the size the caller handed in maps them back through any resize made to fit a slot.
        width, height = item.resized_from or item.image.size
        text = clean_repeated_substrings(text, min_length=CLEANUP_MIN_LENGTH[self.recipe])
        out = parsers.to_output(item.task, text, width, height, truncated=not ended)
        out.vision_tokens = self._vision_tokens(item)
        out.resized_from = item.resized_from
        return out

    def _vision_tokens(self, item: Prepared) -> int | None:
        if item.inputs is None:
            return None
        image_id = getattr(self.model.config, "image_token_id", None)
        return int((item.inputs["input_ids"] == image_id).sum()) if image_id is not None else None

    # ---------------------------------------------------------------- eager generate (reference)

    def _generate(self, items: Sequence[Prepared], cap: int) -> list[Answer]:
        """One batched, left-padded, greedy ``generate`` over ``items``; one answer per item, in order."""
        import torch
        from transformers import StoppingCriteriaList

        from models.generation import REPETITION_PENALTY, TailRepetitionStop

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
                stopping_criteria=StoppingCriteriaList([TailRepetitionStop(prompt_len, decode=self._decode_text)]),
                eos_token_id=self._eos_ids,
                pad_token_id=self._pad_id,
            )
        answers: list[Answer] = []
        for row in out[:, prompt_len:].cpu().tolist():
            # Not ended by EOS means cut off: by the token cap or by the tail-repetition stop.
            cut = next((i for i, t in enumerate(row) if t in self._eos_ids), None)
            answers.append((row[:cut], True) if cut is not None else (row, False))
        return answers


def _warmup_spec() -> Any:
    from shared.jobs.task_spec import TaskSpec

    return TaskSpec(task="text")


def _as_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]
