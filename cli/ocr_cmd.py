"""`ocrq ocr FILE`: run an engine in-process, no queue — the reference the service is compared with.

An image is decoded and read as a worker reads it; a PDF or multi-page TIFF is read page by page
through the worker's own page code (`PageReader.run_page`: render, engine, page result) and made into
one result as a worker makes it. `--format` renders it as the gateway's `?format=` does
(shared/results/formats.py), the searchable PDF included.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.engines import missing_engine_packages
from shared.engines import ENGINES, UnsupportedTask, check_engine_supports
from shared.infra.settings import Settings, load_settings
from shared.intake.images import ImageRejected, decode_for_ocr
from shared.jobs.task_spec import TASK_NAMES, TaskSpec
from shared.results.model import OcrResult, Timings

if TYPE_CHECKING:  # engines are imported by `ocrq ocr` only, so the client and the gateway stay lean
    from models.base import Engine
    from shared.jobs.model import Job


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from cli.output import add_output_args

    p = sub.add_parser("ocr", help="OCR an image, PDF or multi-page TIFF in this process (no service)")
    p.add_argument("file")
    p.add_argument("--engine", default=None, choices=list(ENGINES), metavar="ENGINE",
                   help="the engine to run (default: OCRQ_ENGINE): "
                   + "; ".join(f"{e.name}: {e.summary}" for e in ENGINES.values()))
    add_task_args(p)
    p.add_argument("--pages", default=None, help='PDF/TIFF: the pages to read, e.g. "1-3,7" (default: all)')
    p.add_argument("--json", action="store_true", help="print the full result JSON (same as --format json)")
    add_output_args(p)
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

    from cli.output import output_format, refuses_binary_to_terminal, result_text, write_output
    from models.base import EngineError
    from models.registry import EngineLoadError, load_engine
    from shared.intake.documents import DocumentError

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
    fmt = output_format(args) or ("json" if args.json else None)
    if refuses_binary_to_terminal(fmt, args.output, "ocrq ocr"):
        return 2
    data = path.read_bytes()
    try:
        doc = document_pages(data, settings, args.pages)
    except DocumentError as err:  # what the gateway would answer (encrypted_pdf, damaged_document, ...)
        print(f"ocrq ocr: {err.code}: {err.message}", file=sys.stderr)
        return 1
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
        if doc is None:
            result = ocr_file(data, settings, engine, spec)
        else:
            result = ocr_document(path, settings, engine, spec, doc[1])
    except ImageRejected as err:
        print(f"ocrq ocr: {err.message}", file=sys.stderr)
        return 1
    except EngineError as err:
        print(f"ocrq ocr: {err.code}: {err}", file=sys.stderr)
        return 1
    if result.pages_failed:
        failed = [p for p in result.pages or [] if p.error]
        for page in failed:
            assert page.error is not None
            print(f"ocrq ocr: page {page.page}: {page.error.code}: {page.error.message}", file=sys.stderr)
    if fmt is None:
        print(result_text(result.model_dump(mode="json")))
        return 0
    job = local_job(path, data, settings, doc[0] if doc else None)
    write_output(export_local(job, data, result.model_dump(mode="json"), fmt, settings), fmt, args.output)
    return 0


def document_pages(data: bytes, settings: Settings, spec: str | None) -> tuple[int, list[int]] | None:
    """(pages in the document, the selected ones) for a PDF or a TIFF of several pages, as the gateway
    decides it; None for an image (whose `--pages` may only select its one page)."""
    from shared.intake.documents import as_document
    from shared.intake.page_selection import parse_pages

    info = as_document(data, max_pages=settings.max_pages)
    if info is not None:
        return info.pages_total, parse_pages(spec, info.pages_total)
    parse_pages(spec, 1)
    return None


def ocr_document(path: Path, settings: Settings, engine: Engine, spec: TaskSpec | str, pages: list[int]) -> OcrResult:
    """Read the selected pages of a document one by one, as a worker reads them, into one result."""
    from models.base import EngineError
    from models.page_reader import PageReader
    from models.result_builder import make_document_result

    if isinstance(spec, str):
        spec = TaskSpec(task=spec)
    reader = PageReader(settings, engine)  # the worker's own page code; no store or queue
    barcodes = spec.wants_page_barcodes(len(pages))
    t0 = time.perf_counter()
    results = [reader.run_page(str(path), n, spec, barcodes=barcodes) for n in pages]
    infer_ms = round((time.perf_counter() - t0) * 1000, 2)
    if all(p.error is not None for p in results):
        first = results[0]
        assert first.error is not None
        raise EngineError(first.error.code, f"every selected page failed; page {first.page}: {first.error.message}")
    return make_document_result(spec.task, results, engine, Timings(infer_ms=infer_ms, total_ms=infer_ms))


class _OneFile:
    """The local file as the one object of a blob store: the exports read a job's input from there."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get(self, key: str, *, bucket: str | None = None, max_bytes: int | None = None) -> bytes:
        return self.data


def local_job(path: Path, data: bytes, settings: Settings, pages_total: int | None) -> Job:
    """A job record for the local file, so that the exports treat it as the service treats a job."""
    import hashlib

    from shared.intake.documents import CONTENT_TYPES, sniff
    from shared.jobs.model import InputRef, Job

    kind = sniff(data[:1024])
    # As the gateway records it: a PDF's searchable PDF is laid on its own pages, the rest rendered.
    ctype = CONTENT_TYPES[kind] if kind and pages_total is not None else "application/octet-stream"
    ref = InputRef(bucket="local", key=path.name, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data),
                   content_type=ctype, width=0, height=0)
    return Job(id=path.stem or "local", tenant="local", input=ref, pages_total=pages_total)


def export_local(job: Job, data: bytes, result: dict[str, Any], fmt: str, settings: Settings) -> bytes:
    """The result in `fmt`, rendered by the same code as `GET /v1/jobs/{id}/result?format=`."""
    from shared.results.formats import export_result

    return export_result(job, result, fmt, blobs=_OneFile(data), settings=settings).body  # type: ignore[arg-type]


def ocr_file(data: bytes, settings: Settings, engine: Engine, spec: TaskSpec | str) -> OcrResult:
    """Decode and OCR one image exactly as a worker does, minus the queue and the store."""
    from models.base import EngineError, EngineRequest
    from models.result_builder import make_result

    if isinstance(spec, str):
        spec = TaskSpec(task=spec)
    decoded = decode_for_ocr(
        data, formats=settings.allowed_formats, max_pixels=settings.max_pixels, max_side=settings.max_side
    )
    from models.base import EngineOutput
    from models.result_builder import find_barcodes
    from shared.jobs.task_spec import DECODER_TASKS

    t0 = time.perf_counter()
    # The barcodes task is the decoder alone, as on a worker.
    out = EngineOutput(text="") if spec.task in DECODER_TASKS else engine.run([EngineRequest(decoded.image, spec)])[0]
    if isinstance(out, EngineError):
        raise out
    barcodes = find_barcodes(decoded, thorough=spec.thorough_barcodes) if spec.wants_barcodes else None
    infer_ms = round((time.perf_counter() - t0) * 1000, 2)
    return make_result(spec.task, out, decoded, engine, Timings(infer_ms=infer_ms, total_ms=infer_ms),
                       barcodes=barcodes)
