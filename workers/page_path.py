"""The page path of a document job: its selected pages fan out as page messages any worker runs;
each page is claimed, rendered, read and stored on its own; the last one assembles the document."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import partial

from models.page_reader import PageInput, failed_page
from shared.failures import is_time_limit, short_error
from shared.infra import tracing
from shared.infra.blobs import BlobNotFound, BlobStoreError, ObjectTooLarge, page_result_key
from shared.jobs import Job, now_ms
from shared.results.model import PageError, PageResult
from workers.assembly import Assembly
from workers.image_path import engine_attributes
from workers.leases import Heartbeat, owner_is_dead
from workers.runner_base import Outcome, StoredPage, Work, ids

log = logging.getLogger("ocrq.runner")


class PagePath(Assembly):
    def _fan_out(self, w: Work) -> None:
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
        log.info("pages sent", extra={**ids(job), "pages": len(sent), "pages_done": fan.pages_done})
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
            with Heartbeat(partial(self._beat_pages, [(job.id, n) for _, job, n in claimed]), self.settings.lease_s):
                for i, outcome in self._read_pages(claimed).items():
                    outcomes[i] = outcome
        return [outcomes[i] for i in range(len(items))]

    def _claim_page(self, job_id: str, number: int) -> Job | Outcome:
        # The page message carries the job's trace (from the fan-out, or the reaper's stored traceparent).
        with tracing.span("ocrq.claim", attributes={"ocrq.job_id": job_id, "ocrq.page": number,
                                                     "ocrq.worker": self.worker}) as span:
            claimed = self._claim_page_work(job_id, number)
            span.set_attribute("ocrq.claim", claimed.status if isinstance(claimed, Outcome) else "claimed")
            return claimed

    def _claim_page_work(self, job_id: str, number: int) -> Job | Outcome:
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
        log.info("page claimed", extra={**ids(job), "page": number, "attempt": claim.attempt})
        return job

    def _beat_pages(self, pages: list[tuple[str, int]]) -> None:
        lease = now_ms() + self.settings.lease_s * 1000
        for job_id, number in pages:
            self.pages.heartbeat(job_id, number, self.worker, lease)

    def _read_pages(self, claimed: list[tuple[int, Job, int]]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        ready: list[tuple[int, Job, PageInput]] = []
        for i, job, number in claimed:
            t0 = time.perf_counter()
            selected = len(job.pages or []) or job.pages_total or 0
            try:
                with tracing.job_span("ocrq.fetch", job.traceparent, attributes={"ocrq.job_id": job.id,
                                                                                 "ocrq.page": number}), \
                        self.documents.use(job.input, self.blobs, self.settings.max_upload_bytes) as path:
                    rendered = self.reader.render(path, number)
            except BlobNotFound:
                error = PageError(code="input_missing", message=f"the input object {job.input.key} does not exist")
                outcomes[i] = self._page_done(job, failed_page(number, error), 0.0, 0.0)
                continue
            except ObjectTooLarge as err:
                outcomes[i] = self._page_done(job, failed_page(number, PageError(code="input_too_large",
                                                                                    message=str(err))), 0.0, 0.0)
                continue
            except BlobStoreError as err:
                outcomes[i] = self._page_storage_down(job, number, err)
                continue
            item = PageInput(number, rendered, job.spec, job.spec.wants_page_barcodes(selected),
                              fetch_ms=(time.perf_counter() - t0) * 1000)
            ready.append((i, job, item))
        t0 = time.perf_counter()
        try:
            with tracing.job_span("ocrq.engine.run", ready[0][1].traceparent if ready else None,
                                  attributes=engine_attributes(self.engine.name, len(ready),
                                                                [job.id for _, job, _ in ready],
                                                                [item.number for _, _, item in ready])):
                results = self.reader.read([item for _, _, item in ready])
        except Exception as err:
            if not is_time_limit(err):
                raise
            message = f"the page ran past OCRQ_JOB_TIME_LIMIT_S ({self.settings.job_time_limit_s} s)"
            results = [failed_page(item.number, PageError(code="time_limit", message=message)) for _, _, item in ready]
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
            with tracing.job_span("ocrq.result.write", job.traceparent, attributes={"ocrq.job_id": job.id,
                                                                                    "ocrq.page": result.page}):
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
        log.warning("storage unavailable on page %d, retrying: %s", number, short_error(err), extra=ids(job))
        return Outcome(job.id, "retry", retry_in=5.0, detail=f"storage unavailable: {short_error(err)}")
