"""Which optional packages each engine needs, so a lean install fails in one line, not a traceback.

`pip install ocrq` is the client and the gateway; the engines come with extras:
`ocrq[cpu]` (RapidOCR), `ocrq[gpu]` (HunyuanOCR via transformers), `ocrq[vllm]`.
"""

from __future__ import annotations

import importlib.util

# engine -> (extra, top-level modules it imports)
ENGINE_EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "rapidocr": ("cpu", ("rapidocr", "onnxruntime")),
    "hunyuan": ("gpu", ("torch", "transformers", "safetensors")),
    "hunyuan-vllm": ("vllm", ("vllm", "torch", "transformers")),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or an import hook refusing it
        return False


def missing_engine_packages(engine: str) -> str | None:
    """One line naming what `engine` lacks and the extra that brings it; None when it is installed."""
    extra, modules = ENGINE_EXTRAS.get(engine, ("", ()))
    missing = [m for m in modules if not _installed(m)]
    if not missing:
        return None
    return f"engine {engine} needs {', '.join(missing)}: pip install 'ocrq[{extra}]' (or -e '.[{extra}]' in a checkout)"
