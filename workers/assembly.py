"""A document's assembly: once every selected page is done, one result from the page results,
then the job's compare-and-set (whoever gets there first), then the page results go."""

from __future__ import annotations

import logging

from models.result_builder import make_document_result
from shared.failures import ERROR_MESSAGE_MAX, short_error
from shared.infra import tracing
from shared.infra.blobs import BlobStoreError, result_key
from shared.jobs import Job, JobError, now_ms
from shared.jobs.pages import PAGES_OWNER
from shared.results.model import PageError, PageResult
from workers.runner_base import Outcome, RunnerBase, StoredPage, Work, ids, work_timings

log = logging.getLogger("ocrq.runner")


class Assembly(RunnerBase):
    def _assemble(self, job_id: str) -> Outcome:
        """Every selected page is done: one result from the page results, then the job's CAS (once,
        whoever gets here first; a second assembler writes the same result and loses the CAS)."""
        job = self.store.get(job_id)
        if job is None or job.terminal:
            return Outcome(job_id, "skipped", detail=f"already {job.status.value}" if job else "no such job")
        try:
            stored = self._page_results(job)
        except BlobStoreError as err:  # the job's lease runs out and the reaper sends it again
            log.warning("storage unavailable assembling the result: %s", short_error(err), extra=ids(job))
            return Outcome(job_id, "skipped", detail=f"assembly waits for storage: {short_error(err)}")
        pages = [s.page for s in stored]
        failed = [p for p in pages if p.error is not None]
        w = Work(job, job.started_at or now_ms())
        if len(failed) == len(pages):
            codes = {p.error.code for p in failed if p.error}
            first = failed[0]
            detail = first.error.message if first.error else ""
            message = f"every selected page failed ({len(pages)}); page {first.page}: {detail}"
            code = codes.pop() if len(codes) == 1 else "all_pages_failed"
            t = self.store.fail(job_id, JobError(code=code, message=message[:ERROR_MESSAGE_MAX]), worker=PAGES_OWNER)
        else:
            w.fetch_ms = sum(s.fetch_ms for s in stored)
            timings = work_timings(w, sum(s.infer_ms for s in stored))
            result = make_document_result(job.spec.task, pages, self.engine, timings)
            key = result_key(job.tenant, job.id)
            try:
                with tracing.job_span("ocrq.result.write", job.traceparent, attributes={
                        "ocrq.job_id": job.id, "ocrq.page_count": len(pages)}):
                    self.blobs.put(key, result.model_dump_json().encode(), "application/json")
            except BlobStoreError as err:
                log.warning("storage unavailable storing the result: %s", short_error(err), extra=ids(job))
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
            log.warning("could not delete the page results: %s", short_error(err), extra=ids(job))
