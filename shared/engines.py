"""The OCR engines: each one declared once, here, and read by everything that needs to know about it.

An engine is a name (`OCRQ_ENGINE`, `ocrq ocr --engine`), the tasks it can do, where its code is
(`loader`: a dotted path, imported only by the process that runs it, so the gateway and the client
never import torch), and what it needs to run: a GPU or a CPU, which Celery pool, which optional
packages (the pip extra that brings them) and whether it reads model weights (`OCRQ_MODEL_PATH`).
Settings validation, the gateway's task checks, the OpenAPI document and the console config (the
tasks), `ocrq worker` (pool, GPUs, packages, weights), `ocrq ocr` and models/registry.py (loading)
all read :data:`ENGINES`.

Adding an engine: write it (models/<name>.py, the protocol in models/base.py, with a classmethod
``from_settings(settings)``) and declare it with :func:`register_engine` below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from shared.jobs.task_spec import DECODER_TASKS, TASK_NAMES, TaskSpec

Device = Literal["cpu", "gpu"]
Pool = Literal["prefork", "threads"]


@dataclass(frozen=True)
class EngineInfo:
    name: str  # OCRQ_ENGINE
    tasks: frozenset[str]  # what it can do (the decoder's tasks, e.g. barcodes, every engine can)
    # "module:callable" taking the Settings and returning the engine (models/base.Engine); imported when loaded
    loader: str
    # gpu: `ocrq worker` starts one worker per GPU it finds (--gpus auto); cpu: one CPU worker (--gpus none)
    device: Device
    # prefork: concurrency 1, the engine loads in the pool child (a crash loses the child, not the worker);
    # threads: OCRQ_BATCH_MAX task threads share one engine loaded before consuming (CUDA must not cross a fork)
    pool: Pool
    summary: str  # one line for people (help texts)
    extra: str = ""  # the pip extra that brings its packages: ocrq[<extra>]
    packages: tuple[str, ...] = ()  # top-level modules it imports: checked before loading (a lean install)
    # "module:function" taking a folder and listing what keeps its weights from loading ([] when complete):
    # set for an engine that reads weights, OCRQ_MODEL_PATH is then required and checked by `ocrq worker`
    model_check: str = ""

    @property
    def needs_model(self) -> bool:
        return bool(self.model_check)


ENGINES: dict[str, EngineInfo] = {}  # by name, in the order declared


def register_engine(info: EngineInfo) -> EngineInfo:
    if info.name in ENGINES:
        raise ValueError(f"engine {info.name!r} is declared twice")
    unknown = info.tasks - set(TASK_NAMES)
    if unknown:
        raise ValueError(f"engine {info.name!r} declares unknown tasks: {', '.join(sorted(unknown))}")
    ENGINES[info.name] = info
    return info


def resolve(dotted: str) -> Any:
    """`package.module:Attr.attr` -> that object, importing the module now (a loader, a model check)."""
    module, _, path = dotted.partition(":")
    found: Any = importlib.import_module(module)
    for attr in path.split(".") if path else ():
        found = getattr(found, attr)
    return found


def engine_names() -> tuple[str, ...]:
    return tuple(ENGINES)


def get_engine(name: str) -> EngineInfo:
    found = ENGINES.get(name)
    if found is None:
        raise UnknownEngine(name)
    return found


def engine_tasks(name: str) -> frozenset[str]:
    """The tasks engine `name` can do; none for a name that is no engine."""
    found = ENGINES.get(name)
    return found.tasks if found is not None else frozenset()


class UnknownEngine(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown engine {name!r}: use one of {', '.join(ENGINES)}")
        self.name = name


class UnsupportedTask(ValueError):
    pass


def check_engine_supports(engine: str, spec: TaskSpec) -> None:
    supported = engine_tasks(engine) | DECODER_TASKS
    if spec.task not in supported:
        raise UnsupportedTask(
            f"engine '{engine}' cannot do task '{spec.task}'; it supports: {', '.join(sorted(supported))}"
        )


# ------------------------------------------------------------------ the engines
register_engine(EngineInfo(
    "rapidocr", frozenset({"text", "spotting"}) | DECODER_TASKS, "models.rapid:RapidOcrEngine.from_settings",
    device="cpu", pool="prefork", extra="cpu", packages=("rapidocr", "onnxruntime"),
    summary="RapidOCR (PP-OCR on ONNX Runtime): text and where it is, on any CPU"))
register_engine(EngineInfo(
    "hunyuan", frozenset(TASK_NAMES), "models.hunyuan:HunyuanEngine.from_settings",
    device="gpu", pool="threads", extra="gpu", packages=("torch", "transformers", "safetensors"),
    model_check="models.checkpoints:verify",
    summary="HunyuanOCR through transformers: every task (a GPU, or fp32 on a CPU for tests)"))
register_engine(EngineInfo(
    "hunyuan-vllm", frozenset(TASK_NAMES), "models.hunyuan_vllm:HunyuanVllmEngine.from_settings",
    device="gpu", pool="threads", extra="vllm", packages=("vllm", "torch", "transformers"),
    model_check="models.checkpoints:verify",
    summary="HunyuanOCR through vLLM: every task"))
register_engine(EngineInfo(
    "checksum", frozenset({"text", "spotting"}) | DECODER_TASKS, "models.checksum:ChecksumEngine.from_settings",
    device="cpu", pool="prefork",
    summary="no OCR: a pixel digest, for testing and measuring the service itself"))
