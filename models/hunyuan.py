"""HunyuanOCR through transformers: the GPU engine (it also runs, slowly, on a CPU).

One process loads the model once (models/hunyuan_load.py). Two decoders share the loading,
prompts and parsing:

- ``slots`` (the default): our own decode loop (models/hunyuan_slots.py over models/slots.py and
  models/decoder_step.py). Each request is prefilled alone, then decodes in a slot of a static KV
  cache beside the others, with a CUDA graph per (slots, length) bucket; a finished request frees
  its slot for the next one. ``run`` may be called from many threads at once: their requests share
  the slots (continuous batching).
- ``generate``: transformers' eager ``generate`` over one left-padded batch per ``run`` call
  (models/hunyuan_generate.py). It is the reference the decode loop is held to token for token
  (tests/unit/test_decode_loop.py) and the baseline of bench/engine.py.

Inputs are prepared (pixels, token ids; models/hunyuan_inputs.py) in the caller's thread, so a
worker's task threads do that work while the decode thread keeps the GPU busy. Inputs that cannot
be processed fail alone.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal

from PIL import Image

from models import parsers, prompts
from models.base import EngineError, EngineOutput, EngineRequest
from models.hunyuan_device import free_cuda_cache
from models.hunyuan_generate import generate_answers, run_split
from models.hunyuan_inputs import Answer, Prepared, check_image, fit_to_slot
from models.hunyuan_load import load_hunyuan
from models.hunyuan_slots import make_scheduler, prefill, slot_answers
from models.recipe import DEFAULT_VERSION
from shared.engines import ENGINES
from shared.infra.settings import Settings

Result = EngineOutput | EngineError
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
            self.scheduler = make_scheduler(model, eos_ids=self._eos_ids, max_new_tokens=max_new_tokens,
                                            slots=slots, slot_tokens=slot_tokens, check_every=check_every,
                                            compile_step=compile_step)

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
        loaded = load_hunyuan(model_path, attn_implementation=attn_implementation, device=device, dtype=dtype,
                              decoder=decoder)
        return cls(loaded.model, loaded.processor, device=loaded.device, max_new_tokens=max_new_tokens,
                   version=loaded.version, decoder=decoder, slots=slots, slot_tokens=slot_tokens,
                   recipe=loaded.recipe)

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
                done = run_split(ready, lambda batch: self._generate(batch, cap), on_split=free_cuda_cache)
        else:
            done = slot_answers(self.scheduler, ready, cap, prefill=lambda item: prefill(self.model, self.device, item),
                                decode=self._decode_text)
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
            return fit_to_slot(item, self.slot_tokens, self._processor_inputs)
        except Exception as err:  # noqa: BLE001 - the processor rejects some inputs with many types
            return EngineError("bad_image", f"cannot process image: {err}"[:300])

    def _processor_inputs(self, image: Image.Image, prompt_text: str) -> Any:
        return self.processor(text=[prompt_text], images=[image], return_tensors="pt")

    def _prompt_text(self, image: Image.Image, prompt: str) -> str:
        return self.processor.apply_chat_template(
            prompts.build_messages(image, prompt), tokenize=False, add_generation_prompt=True
        )

    def _decode_text(self, ids: list[int]) -> str:
        return str(self.processor.tokenizer.decode(ids, skip_special_tokens=True))

    def _generate(self, items: Sequence[Prepared], cap: int) -> list[Answer]:
        """The eager decoder over one batch (a method, so tests can stand in for it)."""
        return generate_answers(self.model, self.processor, items, cap, device=self.device, eos_ids=self._eos_ids,
                                pad_id=self._pad_id, decode=self._decode_text)

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


def _warmup_spec() -> Any:
    from shared.jobs.task_spec import TaskSpec

    return TaskSpec(task="text")


def _as_list(value: int | list[int] | None) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]
