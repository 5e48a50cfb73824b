"""HunyuanOCR through vLLM's offline ``LLM`` engine: the high-throughput GPU engine.

Same prompts (models.prompts), same chat template (the checkpoint's, via its processor) and same
parsers (models.parsers) as the transformers engine, so the two answer identically in format.
vLLM schedules the batch itself (continuous batching, paged KV cache), so ``run`` just submits all
requests in one ``generate`` call.

Settings follow vLLM's HunyuanOCR recipe (docs.vllm.ai/projects/recipes, Tencent-Hunyuan/HunyuanOCR):
prefix caching and the multimodal processor cache off (every job is a new image, so both only
cost memory), temperature 0. ``repetition_penalty`` is the official client's 1.08. vLLM has no
per-step stopping hook in the offline API, so the tail-repetition defence here is the token cap
plus the final clean-up of repeated substrings.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models import parsers, prompts
from models.base import EngineError, EngineLoadError, EngineOutput, EngineRequest
from models.checkpoints import verify
from models.generation import REPETITION_PENALTY, clean_repeated_substrings
from models.hunyuan import Prepared, check_image
from shared.settings import Settings
from shared.tasks import ENGINE_TASKS

log = logging.getLogger(__name__)

Result = EngineOutput | EngineError


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError as err:
        raise EngineLoadError(
            f"engine hunyuan-vllm needs the vllm package ({err.name or 'vllm'} not importable): install ocrq[vllm]"
        ) from err
    return vllm


class HunyuanVllmEngine:
    name = "hunyuan-vllm"
    tasks = ENGINE_TASKS["hunyuan-vllm"]

    def __init__(self, llm: Any, processor: Any, sampling_params: Any, *, version: str) -> None:
        self.llm = llm
        self.processor = processor
        self.sampling_params = sampling_params
        self.version = version
        self._lock = threading.Lock()  # LLM.generate is not re-entrant

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
        vllm = import_vllm()
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(model_path, local_files_only=True)
        llm = vllm.LLM(
            model=model_path,
            tokenizer=model_path,
            dtype="bfloat16",
            max_model_len=max_model_len,
            max_num_seqs=max(1, max_num_seqs),
            gpu_memory_utilization=gpu_memory_utilization,
            limit_mm_per_prompt={"image": 1},
            enable_prefix_caching=False,
            mm_processor_cache_gb=0,
        )
        sampling = vllm.SamplingParams(
            temperature=0.0,
            max_tokens=max_new_tokens,
            repetition_penalty=REPETITION_PENALTY,
            skip_special_tokens=True,
        )
        version = f"hunyuanocr:{Path(model_path).resolve().name}+vllm-{vllm.__version__}"
        return cls(llm, processor, sampling, version=version)

    def warmup(self) -> None:
        from PIL import Image

        image = Image.new("RGB", (64, 64), "white")
        item = Prepared(0, image, "text", self._prompt_text(image, prompts.PROMPTS["text"]))
        self._generate([item])

    def run(self, requests: Sequence[EngineRequest]) -> list[Result]:
        results: list[Result | None] = [None] * len(requests)
        ready: list[Prepared] = []
        for i, req in enumerate(requests):
            if req.spec.task not in self.tasks:
                results[i] = EngineError("unsupported_task", f"hunyuan-vllm cannot do task '{req.spec.task}'")
                continue
            try:
                image = check_image(req.image)
                ready.append(
                    Prepared(i, image, req.spec.task, self._prompt_text(image, prompts.build_prompt(req.spec)))
                )
            except Exception as err:  # noqa: BLE001 - PIL raises many types for bad data
                results[i] = EngineError("bad_image", f"cannot read image: {err}"[:300])
        if ready:
            with self._lock:
                outs = self._generate_isolated(ready)
            for item, out in zip(ready, outs, strict=True):
                results[item.index] = out
        return [r for r in results if r is not None]

    def _prompt_text(self, image: Any, prompt: str) -> str:
        return self.processor.apply_chat_template(
            prompts.build_messages(image, prompt), tokenize=False, add_generation_prompt=True
        )

    def _generate_isolated(self, items: list[Prepared]) -> list[Result]:
        # vLLM validates all prompts before scheduling any, so one bad input fails the call:
        # on failure retry item by item to pin the error to its own request.
        try:
            return self._generate(items)
        except Exception as err:  # noqa: BLE001
            if len(items) == 1:
                return [EngineError("inference_failed", f"{err.__class__.__name__}: {err}"[:500])]
            log.warning("hunyuan-vllm: batch of %d failed; retrying one by one", len(items))
        out: list[Result] = []
        for item in items:
            try:
                out.extend(self._generate([item]))
            except Exception as err:  # noqa: BLE001
                out.append(EngineError("inference_failed", f"{err.__class__.__name__}: {err}"[:500]))
        return out

    def _generate(self, items: Sequence[Prepared]) -> list[Result]:
        inputs = [{"prompt": it.prompt_text, "multi_modal_data": {"image": it.image}} for it in items]
        outputs = self.llm.generate(inputs, self.sampling_params, use_tqdm=False)
        results: list[Result] = []
        for item, request_output in zip(items, outputs, strict=True):
            completion = request_output.outputs[0]
            width, height = item.image.size
            results.append(
                parsers.to_output(
                    item.task,
                    clean_repeated_substrings(completion.text),
                    width,
                    height,
                    truncated=completion.finish_reason == "length",
                )
            )
        return results
