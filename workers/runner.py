"""The job runner: claim → fetch → decode → engine → store result → finish. No Celery in here.

The runner decides what a delivery of a job id means from the job record alone, so a duplicate,
late or redelivered message can never do harm: finished jobs are skipped, a job another live
worker holds is left alone (retry later), and a job whose worker died is taken over.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import redis
from pydantic import BaseModel

from models.barcodes import DECODER_NAME, DECODER_VERSION, decode_barcodes
from models.base import Engine, EngineError, EngineOutput, EngineRequest
from shared.infra import stats
from shared.infra.blobs import BlobNotFound, BlobStore, BlobStoreError, TooLarge, page_result_key, result_key
from shared.infra.settings import Settings
from shared.intake.documents import DocumentError, RenderedPage, Source, render_page
from shared.intake.images import Decoded, ImageRejected, decode_for_ocr
from shared.jobs import TERMINAL, Job, JobError, Status, now_ms
from shared.jobs.pages import PAGES_OWNER, PageStore
from shared.jobs.store import JobStore
from shared.jobs.task_spec import DECODER_TASKS, TaskSpec
from shared.labels.review_reasons import review_reasons
from shared.results.model import EngineInfo, ImageSize, Line, OcrResult, PageError, PageResult, Timings
from shared.results.renderers import join_markdown, join_text
from workers import metrics
from workers.doc_files import DocumentFiles

log = logging.getLogger("ocrq.runner")


def _ids(job: Job) -> dict[str, object]:
    """The `extra` every log line about a job carries (shared/infra/logs.py puts them in the JSON)."""
    return {"job_id": job.id, "tenant": job.tenant, "batch_id": job.batch_id}


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_is_dead(worker: str | None) -> bool:
    """True only when the owner certainly died: a process on this host that no longer exists."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


# Celery's time-limit exceptions, matched by name so the runner stays free of Celery.
TIME_LIMIT_ERRORS = frozenset({"SoftTimeLimitExceeded", "TimeLimitExceeded"})
ERROR_MESSAGE_MAX = 200
FINISHED_RETRY_S = 30.0  # a Sentinel failover takes a few seconds


def exception_chain(err: BaseException) -> Iterator[BaseException]:
    """``err`` and every exception behind it: what it was raised from (``__cause__``) or while
    handling (``__context__``, even when ``from None`` hides it from the traceback), and the members
    of an exception group; each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [x for x in (e.__cause__, e.__context__) if x is not None]
        if isinstance(e, BaseExceptionGroup):
            todo += list(e.exceptions)


def is_time_limit(err: BaseException) -> bool:
    """True when a time limit is anywhere in the chain: engines (RapidOCR's ONNXRuntimeError, say),
    storage clients and decoders wrap the SoftTimeLimitExceeded that Celery raised inside them."""
    return any(cls.__name__ in TIME_LIMIT_ERRORS for e in exception_chain(err) for cls in type(e).__mro__)


_TRACEBACK_HEAD = "Traceback (most recent call last)"
_TRACEBACK_LINE = re.compile(r"(Traceback \(most recent call last\)|File \"[^\"]*\", line \d+"
                             r"|During handling of the above exception|The above exception was the direct cause)")
_QUALIFIED_TYPE = re.compile(r"^(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*: )")  # module.path.Fail: -> Fail:
_SERVER_PATH = re.compile(r"(?<![\w/.:~-])/(?:[\w.@+-]+/)+([\w.@+-]+)")  # /srv/models/det.onnx -> det.onnx


def _message_line(text: str) -> str:
    """An exception message's first line that is not traceback text (RapidOCR's ONNXRuntimeError
    carries a whole traceback: its last line, the wrapped error, is what is left), absolute paths
    cut to their file name."""
    tb = _TRACEBACK_HEAD in text
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _TRACEBACK_LINE.match(line) or (tb and raw[:1].isspace()):
            continue
        if tb:
            line = _QUALIFIED_TYPE.sub(r"\1", line)
        return _SERVER_PATH.sub(r"\1", line)
    return ""


def short_error(err: BaseException) -> str:
    """One line for a job's error, a page's or a log: `Type: message` of the exception, or of the
    first exception behind it that has a message when its own is empty or only a traceback. Never
    traceback text or server paths, whatever an engine wraps; bounded to ERROR_MESSAGE_MAX."""
    text = type(err).__name__
    for e in exception_chain(err):
        try:
            line = _message_line(str(e))
        except Exception:  # an exception whose __str__ fails says nothing more
            continue
        if line:
            text += f": {line}" if e is err else f": {type(e).__name__}: {line}"
            break
    return text if len(text) <= ERROR_MESSAGE_MAX else text[: ERROR_MESSAGE_MAX - 1] + "…"


@dataclass
class Outcome:
    job_id: str
    status: str  # succeeded | failed | skipped | retry
    retry_in: float | None = None
    detail: str = ""


@dataclass
class _Work:
    job: Job
    t_claim: int
    decoded: Decoded | None = None
    fetch_ms: float = 0.0
    outcome: Outcome | None = None


FinishedHook = Callable[[Job], None]
SendPage = Callable[[str, int, str], None]  # (job id, page number, queue)


@dataclass
class _PageInput:
    number: int
    rendered: RenderedPage | PageResult  # a PageResult: the page failed to render
    spec: TaskSpec
    barcodes: bool
    fetch_ms: float = 0.0


def _failed_page(number: int, error: PageError) -> PageResult:
    return PageResult(page=number, width=0, height=0, error=error)


class StoredPage(BaseModel):
    """A page's result as stored until its document is assembled, with what it cost."""

    page: PageResult
    fetch_ms: float = 0.0
    infer_ms: float = 0.0



def _timings(w: _Work, infer_ms: float) -> Timings:
    job = w.job
    return Timings(
        queued_ms=float(max(0, (job.started_at or w.t_claim) - job.created_at)),
        fetch_ms=round(w.fetch_ms, 2),
        infer_ms=round(infer_ms, 2),
        total_ms=float(now_ms() - job.created_at),
    )

@dataclass
class PageReader:
    """A document page through the engine: rendered, read, its boxes in that page's pixels. Needs no
    store or queue, so `ocrq ocr` reads pages with the very code a worker does."""

    settings: Settings
    engine: Engine

    def run_page(self, source: Source, page_number: int, spec: TaskSpec, *, barcodes: bool = False) -> PageResult:
        """One page (a file or bytes); a page that cannot be rendered or read has its `error` set."""
        return self.read([_PageInput(page_number, self.render(source, page_number), spec, barcodes)])[0]

    def render(self, source: Source, number: int) -> RenderedPage | PageResult:
        st = self.settings
        try:
            return render_page(source, number, dpi=st.pdf_dpi, max_side=st.max_side, max_pixels=st.max_pixels,
                               time_limit_s=st.page_render_time_limit_s)
        except DocumentError as err:
            return _failed_page(number, PageError(code=err.code, message=err.message))

    def read(self, items: list[_PageInput]) -> list[PageResult]:
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
            metrics.observe_batch(len(todo), time.perf_counter() - t0)
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



class GoneProbe:
    """Polled by an engine while it decodes a job: True once the job is no longer this attempt's to
    finish (canceled, or finished by another worker after a lost lease), so its decode slot is freed
    instead of spending GPU on an answer nobody will store. Reads Redis at most once per
    ``every_s``; a Redis error reads as "still running" (the finish's compare-and-set decides)."""

    def __init__(self, store: JobStore, job_id: str, every_s: float = 1.0) -> None:
        self.store, self.job_id, self.every_s = store, job_id, every_s
        self._checked_at = time.monotonic()  # just claimed: the first read can wait a period
        self._gone = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._gone and now - self._checked_at >= self.every_s:
            self._checked_at = now
            try:
                status = self.store.status(self.job_id)
            except redis.RedisError:
                return False
            self._gone = status is None or status in TERMINAL
        return self._gone


@dataclass
class JobRunner:
    settings: Settings
    store: JobStore
    blobs: BlobStore
    engine: Engine
    worker: str = field(default_factory=worker_identity)
    on_finished: list[FinishedHook] = field(default_factory=list)
    # Sends one page message (job id, page, lane); None runs a document's pages in this process.
    send_page: SendPage | None = None
    pages: PageStore = field(init=False)
    documents: DocumentFiles = field(default_factory=DocumentFiles)

    def __post_init__(self) -> None:
        self.pages = PageStore(self.store.r, self.store.retention_s)

    @property
    def reader(self) -> PageReader:
        """Pages through this runner's engine (made per use: the engine may be swapped, as tests do)."""
        return PageReader(self.settings, self.engine)

    def _beat_jobs(self, jobs: list[Job]) -> None:
        for job in jobs:
            try:
                self.store.heartbeat(job.id, self.worker, self.settings.lease_s)
            except Exception:
                log.warning("heartbeat failed for %s", job.id, extra=_ids(job))

    def run(self, job_id: str) -> Outcome:
        return self.run_many([job_id])[0]

    def run_many(self, job_ids: Sequence[str]) -> list[Outcome]:
        """Run several jobs as one engine batch; each job succeeds or fails on its own."""
        works: list[_Work] = []
        outcomes: dict[str, Outcome] = {}
        for job_id in job_ids:
            claimed = self._claim(job_id)
            if isinstance(claimed, Outcome):
                outcomes[job_id] = claimed
            else:
                works.append(claimed)
        if works:
            images = [w for w in works if w.job.pages_total is None]
            try:
                with _Heartbeat(partial(self._beat_jobs, [w.job for w in images]), self.settings.lease_s):
                    for w in images:
                        self._fetch(w)
                    self._infer([w for w in images if w.outcome is None])
            except Exception as err:  # a time limit where no step looked for one: the claimed jobs fail with it
                if not is_time_limit(err):
                    raise
                for w in images:
                    if w.outcome is None:
                        self._fail_time_limit(w)
            for w in works:
                if w.job.pages_total is not None:
                    self._fan_out(w)
            for w in works:
                assert w.outcome is not None
                outcomes[w.job.id] = w.outcome
        return [outcomes[j] for j in job_ids]

    # claim -----------------------------------------------------------------
    def _claim(self, job_id: str) -> _Work | Outcome:
        job = self.store.get(job_id)
        if job is None:
            return Outcome(job_id, "skipped", detail="no such job (expired or deleted)")
        if job.terminal:
            return Outcome(job_id, "skipped", detail=f"already {job.status.value}")
        if job.status == Status.running and job.worker == PAGES_OWNER:
            return _Work(job, now_ms())  # its pages are out: _fan_out re-sends what looks lost
        if job.attempts >= self.settings.max_attempts:
            # Each claim counts an attempt; reaching the cap means earlier attempts crashed the worker.
            err = JobError(code="attempts_exhausted",
                           message=f"the job crashed or timed out {job.attempts} times; giving up")
            t = self.store.fail(job_id, err)
            if t.applied:
                self._finished(job_id)
            return Outcome(job_id, "failed" if t.applied else "skipped", detail=err.code)
        if job.status == Status.queued:
            t = self.store.claim(job_id, self.worker, self.settings.lease_s)
        else:  # running
            lease_left = ((job.lease_until or 0) - now_ms()) / 1000
            if lease_left > 0 and not owner_is_dead(job.worker):
                return Outcome(job_id, "retry", retry_in=lease_left + 0.5, detail=f"held by {job.worker}")
            t = self.store.take_over(job_id, self.worker, self.settings.lease_s, job.worker or "")
        if not t.applied:
            return Outcome(job_id, "skipped", detail=f"claim lost: now {t.status.value if t.status else 'missing'}")
        fresh = self.store.get(job_id)
        if fresh is None:
            return Outcome(job_id, "skipped", detail="deleted while claiming")
        log.info("claimed", extra={**_ids(fresh), "attempt": fresh.attempts})
        return _Work(fresh, now_ms())

    # fetch -------------------------------------------------------------------
    def _fetch(self, w: _Work) -> None:
        t0 = time.perf_counter()
        try:
            data = self.blobs.get(w.job.input.key, bucket=w.job.input.bucket, max_bytes=self.settings.max_upload_bytes)
            w.decoded = decode_for_ocr(
                data,
                formats=self.settings.allowed_formats,
                max_pixels=self.settings.max_pixels,
                max_side=self.settings.max_side,
            )
        except BlobNotFound:
            self._fail(w, "input_missing", f"the input object {w.job.input.bucket}/{w.job.input.key} does not exist")
        except TooLarge as err:
            self._fail(w, "input_too_large", str(err))
        except ImageRejected as err:  # the decoder reports any exception as a bad image, a time limit too
            if is_time_limit(err):
                self._fail_time_limit(w)
            else:
                self._fail(w, err.code, err.message)
        except BlobStoreError as err:
            self._storage_down(w, err)
        w.fetch_ms = (time.perf_counter() - t0) * 1000

    # infer -------------------------------------------------------------------
    def _infer(self, works: list[_Work]) -> None:
        # The barcodes task is the decoder alone (run in _succeed): no engine call, whatever the engine.
        for w in works:
            if w.job.spec.task in DECODER_TASKS:
                self._succeed(w, EngineOutput(text=""), 0.0)
        works = [w for w in works if w.job.spec.task not in DECODER_TASKS]
        if not works:
            return
        reqs = [EngineRequest(w.decoded.image, w.job.spec, cancelled=GoneProbe(self.store, w.job.id))
                for w in works if w.decoded]
        t0 = time.perf_counter()
        try:
            outputs = self.engine.run(reqs)
        except Exception as err:  # the engine itself broke: let the attempt cap decide
            metrics.observe_batch(len(reqs), time.perf_counter() - t0)
            timed_out = is_time_limit(err)
            for w in works:
                if timed_out:  # the traceback says nothing here: the engine was interrupted
                    log.error("time limit reached in the engine (batch of %d): %s", len(works), short_error(err),
                              extra=_ids(w.job))
                else:
                    log.error("engine failed on a batch of %d: %s", len(works), short_error(err),
                              exc_info=w is works[0], extra=_ids(w.job))
            for w in works:
                if timed_out:  # it would run out of time again: no retries
                    self._fail_time_limit(w)
                elif w.job.attempts >= self.settings.max_attempts:
                    self._fail(w, "engine_error", f"the engine failed: {short_error(err)}")
                else:
                    self._give_back(w, f"engine error: {short_error(err)}")
            return
        infer_ms = (time.perf_counter() - t0) * 1000
        metrics.observe_batch(len(reqs), infer_ms / 1000)
        for w, out in zip(works, outputs, strict=True):
            if isinstance(out, EngineError):
                self._fail(w, out.code, str(out))
            else:
                self._succeed(w, out, infer_ms)

    # documents ---------------------------------------------------------------
    def _fan_out(self, w: _Work) -> None:
        """A PDF / multi-page TIFF job: its selected pages become page work that any worker runs
        (run_page_work), each sent on the job's own lane. Run again on a job whose pages are out
        (the reaper re-sends the job when no page moved for a lease), it sends only what looks lost,
        or assembles the result when every page is done."""
        job = w.job
        selected = job.pages or list(range(1, (job.pages_total or 0) + 1))
        now = now_ms()
        fan = self.pages.fan_out(
            job.id,
            self.worker,
            selected,
            now=now,
            lease_until=now + self.settings.lease_s * 1000,
            resend_before=now - self.settings.queued_resend_s * 1000,
        )
        if not fan.applied:
            w.outcome = Outcome(job.id, "skipped", detail=f"not fanned out: now {fan.status}")
            return
        if fan.complete:
            w.outcome = self._assemble(job.id)
            return
        if self.send_page is None:  # no queue (ocrq ocr, unit tests): this process runs every page
            for number in fan.to_send:
                self.run_page_work(job.id, number)
            final = self.store.get(job.id)
            w.outcome = Outcome(job.id, final.status.value if final and final.terminal else "skipped")
            return
        sent = []
        try:
            for number in fan.to_send:
                self.send_page(job.id, number, job.priority)
                sent.append(number)
        finally:
            # Unmarked pages keep sent_at 0 and go out again on the next fan-out.
            self.pages.mark_sent(job.id, sent, now_ms())
        log.info("pages sent", extra={**_ids(job), "pages": len(sent), "pages_done": fan.pages_done})
        w.outcome = Outcome(job.id, "fanned_out", detail=f"{len(sent)} page messages sent")

    def run_page_work(self, job_id: str, number: int) -> Outcome:
        return self.run_pages([(job_id, number)])[0]

    def run_pages(self, items: Sequence[tuple[str, int]]) -> list[Outcome]:
        """Pages of fanned-out documents (job id, page number), read as one engine batch: each is
        claimed, rendered and read, its page result stored and counted on its job; the worker whose
        page completes a document assembles that document's result."""
        outcomes: dict[int, Outcome] = {}
        claimed: list[tuple[int, Job, int]] = []
        for i, (job_id, number) in enumerate(items):
            got = self._claim_page(job_id, number)
            if isinstance(got, Outcome):
                outcomes[i] = got
            else:
                claimed.append((i, got, number))
        if claimed:
            with _Heartbeat(partial(self._beat_pages, [(job.id, n) for _, job, n in claimed]), self.settings.lease_s):
                for i, outcome in self._read_pages(claimed).items():
                    outcomes[i] = outcome
        return [outcomes[i] for i in range(len(items))]

    def _claim_page(self, job_id: str, number: int) -> Job | Outcome:
        page = self.pages.get(job_id, number)
        if page is None:
            return Outcome(job_id, "skipped", detail=f"page {number}: no such page work")
        dead = page.worker if page.state == "running" and owner_is_dead(page.worker) else ""
        now = now_ms()
        claim = self.pages.claim(
            job_id, number, self.worker, now=now, lease_until=now + self.settings.lease_s * 1000,
            max_attempts=self.settings.max_attempts, dead_owner=dead or "",
        )
        if not claim.run:
            if claim.why == "held" and claim.held_until is not None:
                return Outcome(job_id, "retry", retry_in=(claim.held_until - now) / 1000 + 0.5,
                               detail=f"page {number} held by {page.worker}")
            if claim.counted is not None and claim.counted[0] == claim.counted[1]:
                return self._assemble(job_id)
            return Outcome(job_id, "skipped", detail=f"page {number}: {claim.why}")
        job = self.store.get(job_id)
        if job is None:
            return Outcome(job_id, "skipped", detail="no such job (expired or deleted)")
        log.info("page claimed", extra={**_ids(job), "page": number, "attempt": claim.attempt})
        return job

    def _beat_pages(self, pages: list[tuple[str, int]]) -> None:
        lease = now_ms() + self.settings.lease_s * 1000
        for job_id, number in pages:
            self.pages.heartbeat(job_id, number, self.worker, lease)

    def _read_pages(self, claimed: list[tuple[int, Job, int]]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        ready: list[tuple[int, Job, _PageInput]] = []
        for i, job, number in claimed:
            t0 = time.perf_counter()
            selected = len(job.pages or []) or job.pages_total or 0
            try:
                with self.documents.use(job.input, self.blobs, self.settings.max_upload_bytes) as path:
                    rendered = self.reader.render(path, number)
            except BlobNotFound:
                error = PageError(code="input_missing", message=f"the input object {job.input.key} does not exist")
                outcomes[i] = self._page_done(job, _failed_page(number, error), 0.0, 0.0)
                continue
            except TooLarge as err:
                outcomes[i] = self._page_done(job, _failed_page(number, PageError(code="input_too_large",
                                                                                    message=str(err))), 0.0, 0.0)
                continue
            except BlobStoreError as err:
                outcomes[i] = self._page_storage_down(job, number, err)
                continue
            item = _PageInput(number, rendered, job.spec, job.spec.wants_page_barcodes(selected),
                              fetch_ms=(time.perf_counter() - t0) * 1000)
            ready.append((i, job, item))
        t0 = time.perf_counter()
        try:
            results = self.reader.read([item for _, _, item in ready])
        except Exception as err:
            if not is_time_limit(err):
                raise
            message = f"the page ran past OCRQ_JOB_TIME_LIMIT_S ({self.settings.job_time_limit_s} s)"
            results = [_failed_page(item.number, PageError(code="time_limit", message=message)) for _, _, item in ready]
        infer_ms = (time.perf_counter() - t0) * 1000 / max(1, len(ready))
        for (i, job, item), result in zip(ready, results, strict=True):
            outcomes[i] = self._page_done(job, result, item.fetch_ms, infer_ms)
        return outcomes

    def _page_done(self, job: Job, result: PageResult, fetch_ms: float, infer_ms: float) -> Outcome:
        key = page_result_key(job.tenant, job.id, result.page)
        stored = StoredPage(page=result, fetch_ms=round(fetch_ms, 2), infer_ms=round(infer_ms, 2))
        # As for a job: a late page (its lease lapsed, another worker read it, the document may be
        # assembled and its page results deleted) writes nothing; the page's heartbeat decides.
        if not self.pages.heartbeat(job.id, result.page, self.worker, now_ms() + self.settings.lease_s * 1000):
            return self._refused(job, "the page is no longer this attempt's", result.page)
        try:
            self.blobs.put(key, stored.model_dump_json().encode(), "application/json")
        except BlobStoreError as err:
            return self._page_storage_down(job, result.page, err)
        error = result.error.model_dump() if result.error else None
        lease = now_ms() + self.settings.lease_s * 1000
        done = self.pages.done(job.id, result.page, self.worker, lease_until=lease, result_key=key, error=error)
        if not done.counted:
            return self._refused(job, str(done.why), result.page)
        if done.complete:
            return self._assemble(job.id)
        return Outcome(job.id, "page_done", detail=f"page {result.page}: {done.pages_done}/{done.pages_total}")

    def _page_storage_down(self, job: Job, number: int, err: BlobStoreError) -> Outcome:
        # As for jobs: no fault of the page, so its attempt is refunded; the page message retries.
        self.pages.give_back(job.id, number, self.worker)
        log.warning("storage unavailable on page %d, retrying: %s", number, short_error(err), extra=_ids(job))
        return Outcome(job.id, "retry", retry_in=5.0, detail=f"storage unavailable: {short_error(err)}")

    def _assemble(self, job_id: str) -> Outcome:
        """Every selected page is done: one result from the page results, then the job's CAS (once,
        whoever gets here first; a second assembler writes the same result and loses the CAS)."""
        job = self.store.get(job_id)
        if job is None or job.terminal:
            return Outcome(job_id, "skipped", detail=f"already {job.status.value}" if job else "no such job")
        try:
            stored = self._page_results(job)
        except BlobStoreError as err:  # the job's lease runs out and the reaper sends it again
            log.warning("storage unavailable assembling the result: %s", short_error(err), extra=_ids(job))
            return Outcome(job_id, "skipped", detail=f"assembly waits for storage: {short_error(err)}")
        pages = [s.page for s in stored]
        failed = [p for p in pages if p.error is not None]
        w = _Work(job, job.started_at or now_ms())
        if len(failed) == len(pages):
            codes = {p.error.code for p in failed if p.error}
            first = failed[0]
            detail = first.error.message if first.error else ""
            message = f"every selected page failed ({len(pages)}); page {first.page}: {detail}"
            code = codes.pop() if len(codes) == 1 else "all_pages_failed"
            t = self.store.fail(job_id, JobError(code=code, message=message[:ERROR_MESSAGE_MAX]), worker=PAGES_OWNER)
        else:
            w.fetch_ms = sum(s.fetch_ms for s in stored)
            timings = _timings(w, sum(s.infer_ms for s in stored))
            result = make_document_result(job.spec.task, pages, self.engine, timings)
            key = result_key(job.tenant, job.id)
            try:
                self.blobs.put(key, result.model_dump_json().encode(), "application/json")
            except BlobStoreError as err:
                log.warning("storage unavailable storing the result: %s", short_error(err), extra=_ids(job))
                return Outcome(job_id, "skipped", detail=f"assembly waits for storage: {short_error(err)}")
            t = self.store.succeed(job_id, PAGES_OWNER, key, review_reasons=result.review_reasons)
        if not t.applied:
            return Outcome(job_id, "skipped", detail=f"assembled by another worker: now {t.status}")
        self._finished(job_id, None if len(failed) == len(pages) else timings)
        self._drop_page_results(job)
        status = "failed" if len(failed) == len(pages) else "succeeded"
        return Outcome(job_id, status, detail=f"{len(failed)} of {len(pages)} pages failed")

    def _page_results(self, job: Job) -> list[StoredPage]:
        selected = job.pages or list(range(1, (job.pages_total or 0) + 1))
        recorded = {p.number: p for p in self.pages.all(job.id)}
        out = []
        for number in selected:
            page = recorded.get(number)
            if page is not None and page.result_key:
                out.append(StoredPage.model_validate_json(self.blobs.get(page.result_key)))
                continue
            error = PageError(**page.error) if page is not None and page.error else PageError(
                code="page_missing", message="this page's work was lost")
            out.append(StoredPage(page=PageResult(page=number, width=0, height=0, error=error)))
        return out

    def _drop_page_results(self, job: Job) -> None:
        """The page results live on in the job's result; their own objects are deleted (best effort:
        the expiry sweep deletes what is left)."""
        try:
            self.pages.delete_results(job.id, self.blobs)
        except BlobStoreError as err:
            log.warning("could not delete the page results: %s", short_error(err), extra=_ids(job))

    # finish ----------------------------------------------------------------
    def _succeed(self, w: _Work, out: EngineOutput, infer_ms: float) -> None:
        assert w.decoded is not None
        job = w.job
        barcodes = None
        if job.spec.wants_barcodes:
            t0 = time.perf_counter()
            try:
                barcodes = find_barcodes(w.decoded, thorough=job.spec.thorough_barcodes)
            except Exception as err:  # a decoder bug fails this job, never the worker
                if is_time_limit(err):
                    self._fail_time_limit(w)
                else:
                    self._fail(w, "barcode_error", f"the barcode decoder failed: {short_error(err)}")
                return
            if job.spec.task in DECODER_TASKS:
                infer_ms = (time.perf_counter() - t0) * 1000
        timings = _timings(w, infer_ms)
        result = make_result(job.spec.task, out, w.decoded, self.engine, timings, barcodes=barcodes)
        key = result_key(job.tenant, job.id)
        # A late answer (the lease lapsed while this worker was cut off or stalled, and the job was
        # taken over) must not overwrite the result another attempt wrote: the heartbeat's
        # compare-and-set (still running, still ours) renews the lease for the write, or refuses.
        if not self.store.heartbeat(job.id, self.worker, self.settings.lease_s):
            w.outcome = self._refused(job, "the job is no longer this attempt's", None)
            return
        try:
            self.blobs.put(key, result.model_dump_json().encode(), "application/json")
        except BlobStoreError as err:
            self._storage_down(w, err)
            return
        t = self.store.succeed(job.id, self.worker, key, review_reasons=result.review_reasons)
        if t.applied:
            self._finished(job.id, timings)
            w.outcome = Outcome(job.id, "succeeded")
        else:
            w.outcome = self._refused(job, f"lost the job while running: now {t.status}", None)

    def _refused(self, job: Job, why: str, page: int | None) -> Outcome:
        """A finish the compare-and-set refused (the lease lapsed and another attempt took the job
        or page, or it was canceled): nothing of it is stored; one line says so."""
        where = f"page {page}: " if page is not None else ""
        log.warning("finish refused: %s%s", where, why, extra={**_ids(job), **({"page": page} if page else {})})
        return Outcome(job.id, "skipped", detail=f"finish refused: {where}{why}")

    def _read_finished(self, job_id: str) -> Job | None:
        """The finished job, read again through a Redis failover: its hooks (the webhook event, batch
        accounting) run only from here, so one lost read would lose them for good."""
        deadline = time.monotonic() + FINISHED_RETRY_S
        pause = 0.2
        while True:
            try:
                return self.store.get(job_id)
            except (redis.ConnectionError, redis.TimeoutError) as err:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("re-reading finished job %s: %s; retrying", job_id, err)
                time.sleep(pause)
                pause = min(2.0, pause * 2)

    def _fail(self, w: _Work, code: str, message: str) -> None:
        t = self.store.fail(w.job.id, JobError(code=code, message=message), worker=self.worker)
        if t.applied:
            self._finished(w.job.id)
            w.outcome = Outcome(w.job.id, "failed", detail=code)
        else:
            w.outcome = self._refused(w.job, f"failing it ({code}): now {t.status}", None)

    def _fail_time_limit(self, w: _Work) -> None:
        """At once, whatever the attempts: the job would run out of time again."""
        self._fail(w, "time_limit", f"the job ran past OCRQ_JOB_TIME_LIMIT_S ({self.settings.job_time_limit_s} s)")

    def _storage_down(self, w: _Work, err: BlobStoreError) -> None:
        """Storage is down, which is no fault of the job: give it back with the attempt its claim
        counted refunded, and retry with a growing backoff. It fails (storage_unavailable) only
        once it has waited for storage past OCRQ_STORAGE_OUTAGE_DEADLINE_S. A storage client that
        wraps a time limit is no outage: the job fails with time_limit."""
        if is_time_limit(err):
            self._fail_time_limit(w)
            return
        now = now_ms()
        since = w.job.storage_wait_since or now
        waited_s = (now - since) / 1000
        deadline_s = self.settings.storage_outage_deadline_s
        if waited_s >= deadline_s:
            self._fail(
                w,
                "storage_unavailable",
                f"storage was unavailable for {waited_s:.0f} s (OCRQ_STORAGE_OUTAGE_DEADLINE_S={deadline_s})",
            )
            return
        self.store.release(w.job.id, self.worker, refund_attempt=True, fields={"storage_wait_since": since})
        metrics.observe_finished("retried")
        retry_in = min(30.0, max(2.0, waited_s / 4), max(1.0, deadline_s - waited_s))
        log.warning(
            "storage unavailable, retry in %.0f s (attempt not counted): %s",
            retry_in,
            short_error(err),
            extra=_ids(w.job),
        )
        w.outcome = Outcome(w.job.id, "retry", retry_in=retry_in, detail=f"storage unavailable: {short_error(err)}")

    def _give_back(self, w: _Work, why: str) -> None:
        self.store.release(w.job.id, self.worker)
        metrics.observe_finished("retried")
        log.warning("given back for a retry: %s", why, extra=_ids(w.job))
        w.outcome = Outcome(w.job.id, "retry", retry_in=5.0, detail=why)

    def _finished(self, job_id: str, timings: Timings | None = None) -> None:
        job = self._read_finished(job_id)
        if job is None or not job.terminal:
            return  # purged; or the transition was lost with a Redis primary: the job runs again
        try:
            stats.record_finished(self.store.r, job.status.value, timings)
        except Exception:
            log.warning("could not record stats for %s", job_id, extra=_ids(job))
        metrics.observe_finished(job.status.value)
        log.info("finished", extra={**_ids(job), "status": job.status.value})
        # The transition put the job on hooks_pending; it leaves once every hook ran. A hook that fails
        # (or a worker that dies here) leaves it for the reaper, which runs all the hooks again (each is
        # idempotent). The hooks after a failed one wait for that too: batch accounting drops the record
        # the webhook hook needs.
        for hook in self.on_finished:
            try:
                hook(job)
            except Exception:  # a hook (webhook outbox, batch counters) must not undo a finished job
                log.exception("finished-hook failed for %s; the reaper runs the hooks again", job_id,
                              extra=_ids(job))
                return
        try:
            self.store.hooks_done(job_id)
        except Exception:  # the reaper's sweep runs the (idempotent) hooks once more and clears it
            log.warning("could not clear the pending hooks of %s", job_id, extra=_ids(job))


def engine_info(task: str, engine: Engine) -> EngineInfo:
    """What read the result: the barcode decoder for the barcodes task, whatever the worker's engine."""
    if task in DECODER_TASKS:
        return EngineInfo(name=DECODER_NAME, version=DECODER_VERSION)
    return EngineInfo(name=engine.name, version=engine.version)


def decoder_text(barcodes: list[dict[str, Any]]) -> str:
    """The text of a barcodes-task result (an image's, or a page's): each symbol's text, one a line."""
    return "\n".join(bc["text"] for bc in barcodes)


def make_result(
    task: str,
    out: EngineOutput,
    decoded: Decoded,
    engine: Engine,
    timings: Timings,
    *,
    barcodes: list[dict[str, Any]] | None = None,
) -> OcrResult:
    """The one place an engine's output becomes the stored result (the service and `ocrq ocr` share it)."""
    lines = [_scale_line(line, decoded) for line in out.lines]
    reasons = review_reasons(barcodes, lines, task=task, fields=out.fields, answer=out.text) if barcodes else []
    decoder_only = task in DECODER_TASKS
    return OcrResult(
        task=task,
        text=decoder_text(barcodes or []) if decoder_only else out.text,
        lines=lines,
        barcodes=barcodes,
        needs_review=bool(reasons),
        review_reasons=reasons or None,
        markdown=out.markdown,
        fields=out.fields,
        raw=out.raw,
        truncated=out.truncated,
        engine=engine_info(task, engine),
        image=ImageSize(width=decoded.width, height=decoded.height),
        timings=timings,
        pages=[page_result(1, out, decoded)],
    )


def page_result(
    number: int, out: EngineOutput | EngineError, decoded: Decoded, *, barcodes: list[dict[str, Any]] | None = None
) -> PageResult:
    """One entry of a result's `pages`: the engine's answer for one page (or image), boxes scaled
    to that page's pixels; an EngineError becomes the page's error."""
    width_pt = decoded.width_pt if isinstance(decoded, RenderedPage) and decoded.width_pt else None
    height_pt = decoded.height_pt if isinstance(decoded, RenderedPage) and decoded.height_pt else None
    if isinstance(out, EngineError):
        return PageResult(
            page=number,
            width=decoded.width,
            height=decoded.height,
            width_pt=width_pt,
            height_pt=height_pt,
            error=PageError(code=out.code, message=str(out)),
        )
    return PageResult(
        page=number,
        width=decoded.width,
        height=decoded.height,
        text=out.text,
        lines=[_scale_line(line, decoded) for line in out.lines],
        markdown=out.markdown,
        fields=out.fields,
        barcodes=barcodes,
        width_pt=width_pt,
        height_pt=height_pt,
        vision_tokens=out.vision_tokens,
        reduced_for_model=(out.resized_from is not None) if out.vision_tokens is not None else None,
    )


def make_document_result(task: str, pages: list[PageResult], engine: Engine, timings: Timings) -> OcrResult:
    """A document's one result: every page, `text` joined with form feeds (as pdftotext), and the
    first readable page's size as `image` (the field every result has)."""
    docs = [p.model_dump() for p in pages]
    first_ok = next(p for p in pages if p.error is None)
    reasons = ["pages_failed"] if any(p.error is not None for p in pages) else []
    for p in pages:
        if p.barcodes:
            page_reasons = review_reasons(p.barcodes, p.lines, task=task, fields=p.fields, answer=p.text)
            reasons += [r for r in page_reasons if r not in reasons]
    return OcrResult(
        task=task,
        text=join_text(docs),
        markdown=join_markdown(docs) if any(p.markdown for p in pages) else None,
        engine=engine_info(task, engine),
        image=ImageSize(width=first_ok.width, height=first_ok.height),
        timings=timings,
        pages=pages,
        pages_failed=sum(1 for p in pages if p.error is not None),
        needs_review=bool(reasons),
        review_reasons=reasons or None,
    )


def find_barcodes(d: Decoded, *, thorough: bool = True) -> list[dict[str, Any]]:
    """Every symbol in the decoded image, box and polygon in pixels of the upright original (as lines are)."""
    out = []
    for bc in decode_barcodes(d.image, thorough=thorough):
        x0, y0, x1, y1 = bc["box"]
        bc["box"] = [
            _px(x0, d.scale, d.width),
            _px(y0, d.scale, d.height),
            _px(x1, d.scale, d.width),
            _px(y1, d.scale, d.height),
        ]
        bc["polygon"] = [[_px(x, d.scale, d.width), _px(y, d.scale, d.height)] for x, y in bc["polygon"]]
        out.append(bc)
    return out


def _px(v: float, scale: float, limit: int) -> int:
    return max(0, min(limit, int(round(v * scale))))


def _scale_line(line: Line, d: Decoded) -> Line:
    s = d.scale

    def px(x: float, limit: int) -> int:
        return max(0, min(limit, int(round(x * s))))

    x0, y0, x1, y1 = line.box
    return Line(
        text=line.text,
        box=(px(x0, d.width), px(y0, d.height), px(x1, d.width), px(y1, d.height)),
        polygon=[(px(x, d.width), px(y, d.height)) for x, y in line.polygon] if line.polygon else None,
        confidence=line.confidence,
    )


class _Heartbeat:
    """Calls ``beat`` every third of a lease while the work runs, so the reaper never hands live
    work to someone else."""

    def __init__(self, beat: Callable[[], object], lease_s: int) -> None:
        self.beat, self.lease_s = beat, lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ocrq-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(max(0.5, self.lease_s / 3)):
            try:
                self.beat()
            except Exception:
                log.warning("heartbeat failed", exc_info=True)
