"""A document page through the engine, with no store or queue: rendered, read, its boxes in that
page's pixels. The worker's page path runs it; `ocrq ocr` reads pages with the very same code.

An engine call that breaks fails its pages (not the caller); a Celery time limit is re-raised for
the caller to handle, found anywhere in the exception chain by `is_time_limit`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from models.base import Engine, EngineError, EngineOutput, EngineRequest
from models.result_builder import decoder_text, find_barcodes, page_result
from shared.failures import is_time_limit, short_error
from shared.infra.settings import Settings
from shared.intake.documents import DocumentError
from shared.intake.rendering import RenderedPage, Source, render_page
from shared.jobs.task_spec import DECODER_TASKS, TaskSpec
from shared.results.model import PageError, PageResult

log = logging.getLogger("ocrq.runner")


@dataclass
class PageInput:
    number: int
    rendered: RenderedPage | PageResult  # a PageResult: the page failed to render
    spec: TaskSpec
    barcodes: bool
    fetch_ms: float = 0.0

def failed_page(number: int, error: PageError) -> PageResult:
    return PageResult(page=number, width=0, height=0, error=error)

@dataclass
class PageReader:
    """A document page through the engine: rendered, read, its boxes in that page's pixels. Needs no
    store or queue, so `ocrq ocr` reads pages with the very code a worker does."""

    settings: Settings
    engine: Engine
    # (pages in the engine call, seconds): the worker's batch metrics
    on_batch: Callable[[int, float], None] | None = None

    def run_page(self, source: Source, page_number: int, spec: TaskSpec, *, barcodes: bool = False) -> PageResult:
        """One page (a file or bytes); a page that cannot be rendered or read has its `error` set."""
        return self.read([PageInput(page_number, self.render(source, page_number), spec, barcodes)])[0]

    def render(self, source: Source, number: int) -> RenderedPage | PageResult:
        st = self.settings
        try:
            return render_page(source, number, dpi=st.pdf_dpi, max_side=st.max_side, max_pixels=st.max_pixels,
                               time_limit_s=st.page_render_time_limit_s)
        except DocumentError as err:
            return failed_page(number, PageError(code=err.code, message=err.message))

    def read(self, items: list[PageInput]) -> list[PageResult]:
        """One engine call for every rendered page; a page that failed to render keeps its error,
        an engine that breaks on the batch fails those pages (not the worker), a time limit raises.
        A page of the barcodes task is the decoder alone, as an image is: no engine call."""
        todo = [EngineRequest(it.rendered.image, it.spec) for it in items
                if isinstance(it.rendered, RenderedPage) and it.spec.task not in DECODER_TASKS]
        outputs: list[EngineOutput | EngineError] = []
        if todo:
            t0 = time.perf_counter()
            try:
                outputs = self.engine.run(todo)
            except Exception as err:
                if is_time_limit(err):
                    raise
                log.warning("engine failed on %d page(s): %s", len(todo), short_error(err))
                outputs = [EngineError("engine_error", f"the engine failed: {short_error(err)}")] * len(todo)
            if self.on_batch is not None:
                self.on_batch(len(todo), time.perf_counter() - t0)
        read = iter(outputs)
        results = []
        for it in items:
            if not isinstance(it.rendered, RenderedPage):
                results.append(it.rendered)
                continue
            decoder_only = it.spec.task in DECODER_TASKS
            out: EngineOutput | EngineError = EngineOutput(text="") if decoder_only else next(read)
            found = None
            if (it.barcodes or decoder_only) and not isinstance(out, EngineError):
                try:
                    found = find_barcodes(it.rendered, thorough=it.spec.thorough_barcodes)
                except Exception as err:  # a decoder bug costs this page its barcodes, never its text
                    log.warning("barcode decoder failed on page %d: %s", it.number, short_error(err))
                    if decoder_only:  # ... unless the barcodes are all the page was read for
                        out = EngineError("barcode_error", f"the barcode decoder failed: {short_error(err)}")
            if decoder_only and found is not None:
                out = EngineOutput(text=decoder_text(found))
            results.append(page_result(it.number, out, it.rendered, barcodes=found))
        return results
