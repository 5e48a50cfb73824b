"""Who holds a job or page, and for how long: this worker's identity, whether an owner died, the
heartbeat that renews a lease while work runs, and the probe an engine polls to learn its job is gone."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

import redis

from shared.jobs import TERMINAL
from shared.jobs.store import JobStore

log = logging.getLogger("ocrq.runner")


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

class Heartbeat:
    """Calls ``beat`` every third of a lease while the work runs, so the reaper never hands live
    work to someone else."""

    def __init__(self, beat: Callable[[], object], lease_s: int) -> None:
        self.beat, self.lease_s = beat, lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ocrq-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
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
