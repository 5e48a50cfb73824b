"""Build the engine a process is configured for; imports heavy libraries only when asked."""

from __future__ import annotations

from models.base import Engine, EngineLoadError
from shared.settings import Settings

__all__ = ["EngineLoadError", "load_engine"]  # EngineLoadError lives beside the protocol (models/base.py)


def load_engine(settings: Settings, name: str | None = None) -> Engine:
    name = name or settings.engine
    if name == "rapidocr":
        from models.rapid import RapidOcrEngine

        return RapidOcrEngine()
    if name == "hunyuan":
        from models.hunyuan import HunyuanEngine

        return HunyuanEngine.from_settings(settings)
    if name == "hunyuan-vllm":
        from models.hunyuan_vllm import HunyuanVllmEngine

        return HunyuanVllmEngine.from_settings(settings)
    if name == "checksum":  # no OCR: a pixel digest, for testing and measuring the service itself
        from models.checksum import ChecksumEngine

        return ChecksumEngine()
    raise EngineLoadError(f"unknown engine '{name}' (OCRQ_ENGINE): use rapidocr, hunyuan, hunyuan-vllm or checksum")
