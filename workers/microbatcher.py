"""Micro-batching: Celery threads hand work to one engine thread that runs it as one batch.

The worker runs a threads pool with concurrency = OCRQ_BATCH_MAX, so up to that many messages are
in flight; each task thread blocks here until its own outcome is known. The engine thread takes the
first waiting item, gathers more for at most OCRQ_BATCH_WAIT_MS, and runs them together: job ids as
one batch (JobRunner.run_many), document pages as another (JobRunner.run_pages), so the pages of a
document fanned out over the workers fill a GPU batch as images do.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from workers.runner import JobRunner
from workers.runner_base import Outcome

Work = str | tuple[str, int]  # a job id, or (job id, page number)


class Batcher:
    def __init__(self, runner: JobRunner, batch_max: int, wait_ms: int) -> None:
        self.runner, self.batch_max, self.wait_s = runner, batch_max, wait_ms / 1000
        self._q: queue.Queue[tuple[Work, Future[Outcome]]] = queue.Queue()
        self.batch_sizes: list[int] = []
        threading.Thread(target=self._loop, name="ocrq-batcher", daemon=True).start()

    def submit(self, job_id: str) -> Outcome:
        return self._wait(job_id)

    def submit_page(self, job_id: str, page: int) -> Outcome:
        return self._wait((job_id, page))

    def _wait(self, work: Work) -> Outcome:
        fut: Future[Outcome] = Future()
        self._q.put((work, fut))
        return fut.result()

    def _loop(self) -> None:
        while True:
            batch = [self._q.get()]
            deadline = time.monotonic() + self.wait_s
            while len(batch) < self.batch_max:
                left = deadline - time.monotonic()
                try:
                    batch.append(self._q.get(timeout=max(0.0, left)) if left > 0 else self._q.get_nowait())
                except queue.Empty:
                    break
            self.batch_sizes.append(len(batch))
            jobs = [(w, fut) for w, fut in batch if isinstance(w, str)]
            pages = [(w, fut) for w, fut in batch if isinstance(w, tuple)]
            try:
                if jobs:
                    for (_, fut), outcome in zip(jobs, self.runner.run_many([w for w, _ in jobs]), strict=True):
                        fut.set_result(outcome)
                if pages:
                    outcomes = self.runner.run_pages([w for w, _ in pages])
                    for (_, fut), outcome in zip(pages, outcomes, strict=True):
                        fut.set_result(outcome)
            except BaseException as err:  # never leave a task thread waiting forever
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
