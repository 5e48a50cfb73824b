"""`ocrq ocr FILE`: run an engine in-process, no queue — the reference the service is compared with."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cli.engines import missing_engine_packages
from shared.images import ImageRejected, decode_for_ocr
from shared.results import OcrResult, Timings
from shared.settings import Settings, load_settings
from shared.tasks import TASK_NAMES, TaskSpec, UnsupportedTask, check_engine_supports

if TYPE_CHECKING:  # engines are imported by `ocrq ocr` only, so the client and the gateway stay lean
    from models.base import Engine


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ocr", help="OCR an image in this process (no service)")
    p.add_argument("file")
    p.add_argument("--engine", default=None, help="rapidocr | hunyuan | hunyuan-vllm (default: OCRQ_ENGINE)")
    add_task_args(p)
    p.add_argument("--json", action="store_true", help="print the full result JSON")
    p.set_defaults(func=cmd_ocr)


def add_task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", default="text", choices=TASK_NAMES)
    p.add_argument("--fields", default=None, help="comma-separated field names (task fields)")
    p.add_argument("--target-lang", default=None, choices=("en", "zh"), help="task translate")
    p.add_argument("--instruction", default=None, help="task ask")


def spec_from_args(args: argparse.Namespace) -> TaskSpec:
    fields = tuple(f.strip() for f in args.fields.split(",") if f.strip()) if args.fields else None
    return TaskSpec(task=args.task, fields=fields, target_lang=args.target_lang, instruction=args.instruction)


def cmd_ocr(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from models.base import EngineError
    from models.registry import EngineLoadError, load_engine

    overrides = {"engine": args.engine} if args.engine else {}
    settings = load_settings(**overrides)
    try:
        spec = spec_from_args(args)
        check_engine_supports(settings.engine, spec)
    except (ValidationError, UnsupportedTask) as err:
        print(f"ocrq ocr: {err}", file=sys.stderr)
        return 2
    path = Path(args.file)
    if not path.is_file():
        print(f"ocrq ocr: no such file: {path}", file=sys.stderr)
        return 2
    missing = missing_engine_packages(settings.engine)
    if missing:
        print(f"ocrq ocr: {missing}", file=sys.stderr)
        return 3
    try:
        engine = load_engine(settings)
    except EngineLoadError as err:
        print(f"ocrq ocr: {err}", file=sys.stderr)
        return 3
    try:
        result = ocr_file(path.read_bytes(), settings, engine, spec)
    except ImageRejected as err:
        print(f"ocrq ocr: {err.message}", file=sys.stderr)
        return 1
    except EngineError as err:
        print(f"ocrq ocr: {err.code}: {err}", file=sys.stderr)
        return 1
    print(result.model_dump_json(indent=2) if args.json else result.text)
    return 0


def ocr_file(data: bytes, settings: Settings, engine: Engine, spec: TaskSpec | str) -> OcrResult:
    """Decode and OCR one image exactly as a worker does, minus the queue and the store."""
    from models.base import EngineError, EngineRequest
    from workers.runner import make_result

    if isinstance(spec, str):
        spec = TaskSpec(task=spec)
    decoded = decode_for_ocr(
        data, formats=settings.allowed_formats, max_pixels=settings.max_pixels, max_side=settings.max_side
    )
    from models.base import EngineOutput
    from shared.tasks import DECODER_TASKS
    from workers.runner import find_barcodes

    t0 = time.perf_counter()
    # The barcodes task is the decoder alone, as on a worker.
    out = EngineOutput(text="") if spec.task in DECODER_TASKS else engine.run([EngineRequest(decoded.image, spec)])[0]
    if isinstance(out, EngineError):
        raise out
    barcodes = find_barcodes(decoded) if spec.wants_barcodes else None
    infer_ms = round((time.perf_counter() - t0) * 1000, 2)
    return make_result(spec.task, out, decoded, engine, Timings(infer_ms=infer_ms, total_ms=infer_ms),
                       barcodes=barcodes)
