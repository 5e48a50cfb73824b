"""HunyuanOCR through vLLM: the high-throughput GPU engine, with continuous batching.

Same prompts for the checkpoint's HunyuanOCR version (models.prompts, version from
models.recipe.detect_version), same chat template (the checkpoint's, via its processor), same
repetition defences and same parsers (models.parsers) as the transformers engine, so the two answer
identically in format.

How requests reach the GPU: any thread's ``run()`` prepares its requests (image check, prompt
through the chat template) and hands them to one background thread that owns vLLM's
``LLMEngine`` (``StepLoop``, models/vllm_step_loop.py), which adds them to the running batch
between two decode steps. vLLM decodes at most ``max_num_seqs`` requests at once, set from the
worker's slot count; the rest wait in vLLM's own queue. ``run()`` blocks only its own caller until
its own requests are done. The official tail-repetition early stop runs per request in that loop;
the official final trim of a repeated suffix (its length floor per version) then runs here on
every answer.

Settings follow vLLM's HunyuanOCR recipe and the official client (Tencent-Hunyuan/HunyuanOCR):
prefix caching and the multimodal processor cache off (every job is a new image, so both only cost
memory), one image per prompt, temperature 0, ``repetition_penalty`` 1.08.

Errors, per request: a task the engine or the checkpoint's version lacks ``unsupported_task``; an
image that cannot be decoded ``bad_image``; a prompt that cannot be built ``bad_request``; a prompt
(text plus image tokens) longer than ``max_model_len`` ``prompt_too_long``; anything vLLM refuses
or breaks on ``inference_failed``. A request whose ``cancelled()`` turns true (polled every
CANCEL_POLL_S while it is queued or decoding) is aborted and ends ``canceled``, and so are the
requests of a caller interrupted while waiting (a time limit): either way their slots are freed at
once. A vLLM engine that died makes ``run()`` raise, so the worker's retry rules apply.

Everything but ``HunyuanVllmEngine.load`` runs without vLLM: tests/unit/test_hunyuan_vllm.py drives the
engine on a CPU through a stand-in with vLLM's step API.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from models import parsers, prompts
from models.base import EngineError, EngineLoadError, EngineOutput, EngineRequest
from models.checkpoints import verify
from models.generation import CLEANUP_MIN_LENGTH, REPETITION_PENALTY, clean_repeated_substrings
from models.hunyuan_inputs import check_image
from models.recipe import DEFAULT_VERSION, detect_version
from models.vllm_step_loop import Completion, StepEngine, StepLoop, StopCheck, Ticket, tail_stop
from shared.engines import ENGINES
from shared.infra.settings import Settings
from shared.jobs.task_spec import TaskSpec

log = logging.getLogger(__name__)

Result = EngineOutput | EngineError


@dataclass(frozen=True)
class VllmApi:
    """The few vLLM names load() needs (a seam: tests hand in stand-ins)."""

    engine_args: Any  # vllm.EngineArgs
    llm_engine: Any  # vllm.LLMEngine
    sampling_params: Any  # vllm.SamplingParams
    output_kind: Any  # vllm.sampling_params.RequestOutputKind
    version: str


def import_vllm() -> VllmApi:
    try:
        import vllm
        from vllm.sampling_params import RequestOutputKind
    except ImportError as err:
        raise EngineLoadError(
            f"engine hunyuan-vllm needs the vllm package ({err.name or 'vllm'} not importable): install ocrq[vllm] "
            "into a virtualenv of its own (docs/hunyuan.md, 'vLLM')"
        ) from err
    return VllmApi(vllm.EngineArgs, vllm.LLMEngine, vllm.SamplingParams, RequestOutputKind, vllm.__version__)


def with_max_tokens(params: Any, max_tokens: int) -> Any:
    """A copy of sampling params with another token cap (vLLM's SamplingParams has clone())."""
    clone = params.clone() if hasattr(params, "clone") else copy.copy(params)
    clone.max_tokens = max_tokens
    return clone


@dataclass(frozen=True)
class _Item:
    task: str
    image: Image.Image
    prompt_text: str


class HunyuanVllmEngine:
    name = "hunyuan-vllm"
    tasks = ENGINES["hunyuan-vllm"].tasks
    continuous = True  # concurrent run() calls share the running batch: the worker needs no batcher

    def __init__(
        self,
        engine: StepEngine,
        processor: Any,
        sampling_params: Any,
        *,
        version: str,
        recipe: str = DEFAULT_VERSION,
        new_stop: Callable[[], StopCheck] = tail_stop,
    ) -> None:
        self.processor = processor
        self.sampling_params = sampling_params  # handed to every request (vLLM copies it per request)
        self.version = version
        self.recipe = recipe  # "1.0" | "1.5": which official prompts this checkpoint was trained on
        self.loop = StepLoop(engine, new_stop=new_stop, name=self.name)

    @classmethod
    def from_settings(cls, settings: Settings) -> HunyuanVllmEngine:
        return cls.load(settings.model_path, max_new_tokens=settings.max_new_tokens, max_num_seqs=settings.batch_max)

    @classmethod
    def load(
        cls,
        model_path: str,
        *,
        max_new_tokens: int = 4096,
        max_num_seqs: int = 16,
        gpu_memory_utilization: float = 0.85,
        max_model_len: int = 16384,
    ) -> HunyuanVllmEngine:
        problems = verify(model_path)
        if problems:
            raise EngineLoadError(f"HunyuanOCR weights at '{model_path}' unusable: {'; '.join(problems)}")
        api = import_vllm()
        from transformers import AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(model_path, local_files_only=True)
            engine = api.llm_engine.from_engine_args(
                api.engine_args(
                    model=model_path,
                    tokenizer=model_path,
                    dtype="bfloat16",
                    max_model_len=max_model_len,
                    max_num_seqs=max(1, max_num_seqs),
                    gpu_memory_utilization=gpu_memory_utilization,
                    limit_mm_per_prompt={"image": 1},
                    enable_prefix_caching=False,
                    mm_processor_cache_gb=0,
                    disable_log_stats=True,
                )
            )
        except Exception as err:  # noqa: BLE001 - any load failure becomes one operator line
            first = str(err).strip().splitlines()[0] if str(err).strip() else err.__class__.__name__
            raise EngineLoadError(f"HunyuanOCR could not load in vLLM from '{model_path}': {first}") from err
        sampling = api.sampling_params(
            temperature=0.0,
            max_tokens=max_new_tokens,
            repetition_penalty=REPETITION_PENALTY,
            skip_special_tokens=True,
            output_kind=api.output_kind.DELTA,  # each step's new text: what the early stop reads
        )
        recipe = detect_version(json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8")))
        version = f"hunyuanocr:{Path(model_path).resolve().name}+{recipe}+vllm-{api.version}"
        log.info(
            "hunyuan-vllm: loaded %s (HunyuanOCR %s, vllm %s, max_num_seqs %d)",
            model_path,
            recipe,
            api.version,
            max(1, max_num_seqs),
        )
        return cls(engine, processor, sampling, version=version, recipe=recipe)

    @property
    def generated_tokens(self) -> int:
        """New tokens generated by all requests so far (bench/engine.py's tok/s)."""
        return self.loop.generated_tokens

    def close(self) -> None:
        self.loop.close()

    def warmup(self) -> None:
        """One tiny request: CUDA graphs, allocator pools and lazy inits happen here, not on job one."""
        image = Image.new("RGB", (64, 64), "white")
        prompt_text = self._prompt_text(image, prompts.build_prompt(TaskSpec(task="text"), self.recipe))
        ticket = self.loop.submit(self._inputs(image, prompt_text), with_max_tokens(self.sampling_params, 2))
        result = ticket.wait()
        if isinstance(result, EngineError):
            raise EngineLoadError(f"hunyuan-vllm warm-up failed: {result.code}: {result}")

    def run(self, requests: Sequence[EngineRequest]) -> list[Result]:
        if self.loop.dead is not None:
            raise RuntimeError(f"hunyuan-vllm: the vLLM engine is dead ({self.loop.dead})")
        results: list[Result | None] = [None] * len(requests)
        waiting: list[tuple[int, _Item, Ticket]] = []
        try:
            for i, req in enumerate(requests):
                item = self._prepare(req)
                if isinstance(item, EngineError):
                    results[i] = item
                    continue
                # Submitted as soon as prepared: the engine starts on it while the rest are prepared.
                ticket = self.loop.submit(
                    self._inputs(item.image, item.prompt_text), self.sampling_params, getattr(req, "cancelled", None)
                )
                waiting.append((i, item, ticket))
            for i, item, ticket in waiting:
                results[i] = self._finish(item, ticket.wait())
        except BaseException:
            # A time limit (or any interruption) while waiting: abort what is left, freeing the slots.
            self.loop.cancel(ticket for _, _, ticket in waiting)
            raise
        return [r for r in results if r is not None]

    def _prepare(self, req: EngineRequest) -> _Item | EngineError:
        if req.spec.task not in self.tasks:
            return EngineError("unsupported_task", f"hunyuan-vllm cannot do task '{req.spec.task}'")
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
        return _Item(req.spec.task, image, prompt_text)

    def _prompt_text(self, image: Image.Image, prompt: str) -> str:
        text: str = self.processor.apply_chat_template(
            prompts.build_messages(image, prompt), tokenize=False, add_generation_prompt=True
        )
        return text

    @staticmethod
    def _inputs(image: Image.Image, prompt_text: str) -> dict[str, Any]:
        return {"prompt": prompt_text, "multi_modal_data": {"image": image}}

    def _finish(self, item: _Item, result: Completion | EngineError) -> Result:
        if isinstance(result, EngineError):
            return result
        width, height = item.image.size
        text = clean_repeated_substrings(result.text, min_length=CLEANUP_MIN_LENGTH[self.recipe])
        return parsers.to_output(item.task, text, width, height, truncated=result.truncated)
