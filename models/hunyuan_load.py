"""Loading HunyuanOCR into transformers: verify the folder, build processor and model, name the version.

The engine (models/hunyuan.py) gets back what it needs to run; every load failure is one
operator line (EngineLoadError), never a traceback.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.base import EngineLoadError
from models.checkpoints import verify
from models.hunyuan_device import select_device
from models.recipe import detect_version

log = logging.getLogger("models.hunyuan")  # the engine's logger: operators grep one name


@dataclass(frozen=True)
class Loaded:
    model: Any
    processor: Any
    device: str
    version: str  # hunyuanocr:<folder>+<recipe>+transformers-<version>
    recipe: str  # "1.0" | "1.5": which official prompts this checkpoint was trained on


def load_hunyuan(
    model_path: str, *, attn_implementation: str, device: str | None, dtype: Any, decoder: str
) -> Loaded:
    problems = verify(model_path)
    if problems:
        raise EngineLoadError(f"HunyuanOCR weights at '{model_path}' unusable: {'; '.join(problems)}")
    import torch
    import transformers
    from transformers import AutoProcessor, HunYuanVLForConditionalGeneration

    device = select_device(device)
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
    return Loaded(model, processor, device, version, recipe)
