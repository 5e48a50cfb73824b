"""Whether the optional packages an engine needs are installed, so a lean install fails in one line,
not a traceback.

`pip install ocrq` is the client and the gateway; the engines come with extras:
`ocrq[cpu]` (RapidOCR), `ocrq[gpu]` (HunyuanOCR via transformers), `ocrq[vllm]`. Each engine's
extra and packages are declared with it (shared/engines.py).
"""

from __future__ import annotations

import importlib.util

from shared.engines import ENGINES


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or an import hook refusing it
        return False


def missing_engine_packages(engine: str) -> str | None:
    """One line naming what `engine` lacks and the extra that brings it; None when it is installed."""
    info = ENGINES.get(engine)
    if info is None:
        return None  # settings refuse an unknown engine before this is asked
    extra = info.extra
    missing = [m for m in info.packages if not _installed(m)]
    if not missing:
        return None
    return f"engine {engine} needs {', '.join(missing)}: pip install 'ocrq[{extra}]' (or -e '.[{extra}]' in a checkout)"
