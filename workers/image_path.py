"""The image path of a claimed job: fetch and decode the input, run the engine (a batch of
images at once), decode barcodes, write the result, finish."""

from __future__ import annotations

import logging
import time

from models.base import EngineError, EngineOutput, EngineRequest
from models.result_builder import find_barcodes, make_result
from shared.failures import is_time_limit, short_error
from shared.infra import tracing
from shared.infra.blobs import BlobNotFound, BlobStoreError, ObjectTooLarge, result_key
from shared.intake.images import ImageRejected, decode_for_ocr
from shared.jobs.task_spec import DECODER_TASKS
from workers import metrics
from workers.leases import GoneProbe
from workers.runner_base import Outcome, RunnerBase, Work, ids, work_timings

log = logging.getLogger("ocrq.runner")


def engine_attributes(engine: str, batch_size: int, job_ids: list[str], pages: list[int] | None = None
                       ) -> dict[str, object]:
    """The engine span's attributes; ``ocrq.job_id`` only where the batch is one job's."""
    attrs: dict[str, object] = {"ocrq.engine": engine, "ocrq.batch_size": batch_size}
    if len(set(job_ids)) == 1:
        attrs["ocrq.job_id"] = job_ids[0]
    else:
        attrs["ocrq.job_ids"] = job_ids
    if pages is not None:
        attrs["ocrq.pages"] = pages
    return attrs


class ImagePath(RunnerBase):
    def _fetch(self, w: Work) -> None:
        with tracing.job_span("ocrq.fetch", w.job.traceparent, attributes={
                "ocrq.job_id": w.job.id, "ocrq.input_bytes": w.job.input.bytes}):
            self._fetch_input(w)

    def _fetch_input(self, w: Work) -> None:
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
        except ObjectTooLarge as err:
            self._fail(w, "input_too_large", str(err))
        except ImageRejected as err:  # the decoder reports any exception as a bad image, a time limit too
            if is_time_limit(err):
                self._fail_time_limit(w)
            else:
                self._fail(w, err.code, err.message)
        except BlobStoreError as err:
            self._storage_down(w, err)
        w.fetch_ms = (time.perf_counter() - t0) * 1000

    def _infer(self, works: list[Work]) -> None:
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
            # One span for the engine call, in the first job's trace (a batch of several jobs: the batcher).
            with tracing.job_span("ocrq.engine.run", works[0].job.traceparent,
                                  attributes=engine_attributes(self.engine.name, len(reqs), [w.job.id for w in works])):
                outputs = self.engine.run(reqs)
        except Exception as err:  # the engine itself broke: let the attempt cap decide
            metrics.observe_batch(len(reqs), time.perf_counter() - t0)
            timed_out = is_time_limit(err)
            for w in works:
                if timed_out:  # the traceback says nothing here: the engine was interrupted
                    log.error("time limit reached in the engine (batch of %d): %s", len(works), short_error(err),
                              extra=ids(w.job))
                else:
                    log.error("engine failed on a batch of %d: %s", len(works), short_error(err),
                              exc_info=w is works[0], extra=ids(w.job))
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

    def _succeed(self, w: Work, out: EngineOutput, infer_ms: float) -> None:
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
        timings = work_timings(w, infer_ms)
        result = make_result(job.spec.task, out, w.decoded, self.engine, timings, barcodes=barcodes)
        key = result_key(job.tenant, job.id)
        # A late answer (the lease lapsed while this worker was cut off or stalled, and the job was
        # taken over) must not overwrite the result another attempt wrote: the heartbeat's
        # compare-and-set (still running, still ours) renews the lease for the write, or refuses.
        if not self.store.heartbeat(job.id, self.worker, self.settings.lease_s):
            w.outcome = self._refused(job, "the job is no longer this attempt's", None)
            return
        try:
            with tracing.job_span("ocrq.result.write", job.traceparent, attributes={"ocrq.job_id": job.id}):
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
