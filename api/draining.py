"""A gateway worker told to stop drains at once.

gunicorn's arbiter sends each worker SIGTERM on a restart, a deploy or `docker compose stop`; the
worker then finishes the requests in flight. A long-poll (`GET /v1/jobs/{id}?wait=N`) would hold
that stop for up to the long-poll cap (OCRQ_WAIT_MAX_S, 30 s). Instead, once the signal arrives,
long-polls answer with the job as it is now, with `Retry-After: 1`, as when their wait runs out:
the client asks again and reaches a gateway that is up. Other requests finish as before.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

DRAINING = threading.Event()


def watch_stop_signal(worker: Any) -> None:
    """gunicorn's `post_worker_init` hook (api/gunicorn_config.py): chain onto the SIGTERM handler
    gunicorn installed in this worker, so the worker still stops the way gunicorn stops it."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        DRAINING.set()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
