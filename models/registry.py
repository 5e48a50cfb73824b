"""Build the engine a process is configured for, from its declaration (shared/engines.py): the
loader's module is imported only here, when asked, so nothing else pays for torch."""

from __future__ import annotations

from models.base import Engine, EngineLoadError
from shared.engines import UnknownEngine, get_engine, resolve
from shared.infra.settings import Settings

__all__ = ["EngineLoadError", "load_engine"]  # EngineLoadError lives beside the protocol (models/base.py)


def load_engine(settings: Settings, name: str | None = None) -> Engine:
    try:
        info = get_engine(name or settings.engine)
    except UnknownEngine as err:
        raise EngineLoadError(f"{err} (OCRQ_ENGINE)") from None
    engine: Engine = resolve(info.loader)(settings)
    return engine
