"""Micro-batching: Celery threads hand job ids to one engine thread that runs them as one batch.

The worker runs a threads pool with concurrency = OCRQ_BATCH_MAX, so up to that many messages are
in flight; each task thread blocks here until its own job's outcome is known. The engine thread
takes the first waiting job, gathers more for at most OCRQ_BATCH_WAIT_MS, and runs them together.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future

from workers.runner import JobRunner, Outcome


class Batcher:
    def __init__(self, runner: JobRunner, batch_max: int, wait_ms: int) -> None:
        self.runner, self.batch_max, self.wait_s = runner, batch_max, wait_ms / 1000
        self._q: queue.Queue[tuple[str, Future[Outcome]]] = queue.Queue()
        self.batch_sizes: list[int] = []
        threading.Thread(target=self._loop, name="ocrq-batcher", daemon=True).start()

    def submit(self, job_id: str) -> Outcome:
        fut: Future[Outcome] = Future()
        self._q.put((job_id, fut))
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
            try:
                outcomes = self.runner.run_many([job_id for job_id, _ in batch])
                for (_, fut), outcome in zip(batch, outcomes, strict=True):
                    fut.set_result(outcome)
            except BaseException as err:  # never leave a task thread waiting forever
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
