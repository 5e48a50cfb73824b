"""Worker metrics and health: `/metrics` and `/healthz` on OCRQ_METRICS_PORT (default 9100).

The HTTP server runs in the Celery worker's main process (started on `worker_ready`); jobs run in
prefork pool children (RapidOCR) or in the main process (threads pool, GPU engines). Counters
recorded in a child must reach the main process's scrape, so when PROMETHEUS_MULTIPROC_DIR is set
(`ocrq worker` gives every Celery process a fresh one) prometheus_client's multiprocess mode is
used: each process writes its values to files there and the scrape sums them
(`MultiProcessCollector`). Without it (one process, e.g. the threads pool) the default registry
is served.

The runner records with `observe_batch` and `observe_finished`; this module imports no Celery and
imports prometheus_client lazily, so importing it changes nothing in a process until it records.

Series:
- ocrq_jobs_processed_total{status}: succeeded | failed | canceled (a final state this worker set)
  and retried (a job given back to the queue, e.g. storage unavailable or an engine error);
- ocrq_engine_seconds: wall time of one engine call (one batch);
- ocrq_batch_size: images per engine call;
- ocrq_gpu_memory_bytes: CUDA memory reserved by this worker's PyTorch allocator, only in a
  process where torch is already imported and CUDA is initialised (never imports torch).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("ocrq.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
ENGINE_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

HealthCheck = Callable[[], "tuple[bool, str]"]

_lock = threading.Lock()
_metrics: dict[str, Any] | None = None
_server: ThreadingHTTPServer | None = None


def prepare_multiprocess_dir() -> str | None:
    """Before a prefork pool forks: make sure the children write where the scrape reads.

    Sets PROMETHEUS_MULTIPROC_DIR to a fresh temporary folder when it is unset (a worker started
    with `celery -A workers.ocr_worker worker` rather than `ocrq worker`). prometheus_client picks its
    value class when first imported, so this only helps if it is not imported yet.
    """
    if os.environ.get(MULTIPROC_ENV):
        return os.environ[MULTIPROC_ENV]
    if "prometheus_client" in sys.modules:
        log.warning("prometheus_client already imported; pool children's metrics will not be scraped")
        return None
    path = tempfile.mkdtemp(prefix="ocrq-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


def _get() -> dict[str, Any]:
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                from prometheus_client import Counter, Histogram

                processed = Counter(
                    "ocrq_jobs_processed", "Jobs this worker finished or gave back, by outcome", ["status"]
                )
                _metrics = {
                    "processed": processed,
                    "engine": Histogram(
                        "ocrq_engine_seconds", "Wall time of one engine call (one batch)", buckets=ENGINE_BUCKETS_S
                    ),
                    "batch": Histogram("ocrq_batch_size", "Images per engine call", buckets=BATCH_BUCKETS),
                    "gpu": None,
                }
    return _metrics


def _gpu_memory_bytes() -> float | None:
    torch = sys.modules.get("torch")  # never import torch just for a metric
    if torch is None:
        return None
    try:
        cuda = torch.cuda
        if not (cuda.is_available() and cuda.is_initialized()):
            return None
        return float(cuda.memory_reserved())
    except Exception:
        return None


def update_gpu_memory() -> None:
    value = _gpu_memory_bytes()
    if value is None:
        return
    m = _get()
    if m["gpu"] is None:
        with _lock:
            if m["gpu"] is None:
                from prometheus_client import Gauge

                m["gpu"] = Gauge(
                    "ocrq_gpu_memory_bytes",
                    "CUDA memory reserved by this worker's PyTorch allocator",
                    multiprocess_mode="mostrecent",
                )
    m["gpu"].set(value)


def observe_batch(size: int, engine_seconds: float) -> None:
    """One engine call of `size` images that took `engine_seconds`. Never raises."""
    try:
        m = _get()
        m["batch"].observe(size)
        m["engine"].observe(engine_seconds)
        update_gpu_memory()
    except Exception:
        log.debug("could not record batch metrics", exc_info=True)


def observe_finished(status: str) -> None:
    """A job this worker moved to a final state (or gave back: status 'retried'). Never raises."""
    try:
        _get()["processed"].labels(status).inc()
    except Exception:
        log.debug("could not record job metrics", exc_info=True)


def render() -> tuple[bytes, str]:
    """The exposition text of every process of this worker."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
    )

    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class _Handler(BaseHTTPRequestHandler):
    health: HealthCheck = staticmethod(lambda: (True, "ok"))

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                body, ctype = render()
                self._send(200, body, ctype)
            elif path == "/healthz":
                ok, detail = type(self).health()
                doc = {"status": "ok" if ok else "unavailable", "detail": detail, "pid": os.getpid()}
                self._send(200 if ok else 503, json.dumps(doc).encode(), "application/json")
            else:
                self._send(404, b"not found\n", "text/plain")
        except Exception as err:
            log.exception("metrics endpoint %s failed", path)
            self._send(500, f"{type(err).__name__}\n".encode(), "text/plain")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:  # scrapes every 15 s: not worth a line each
        pass


def start_server(port: int, health: HealthCheck, host: str = "0.0.0.0") -> ThreadingHTTPServer | None:
    """Serve /metrics and /healthz on a daemon thread. A port in use is logged, not fatal:
    a worker that cannot be scraped must still run jobs."""
    global _server
    if _server is not None:
        return _server
    _get()  # the series exist (at zero) from the first scrape on
    for status in ("succeeded", "failed"):
        _get()["processed"].labels(status)
    update_gpu_memory()
    handler = type("Handler", (_Handler,), {"health": staticmethod(health)})
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as err:
        log.error("cannot serve metrics and health on %s:%d: %s", host, port, err)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="ocrq-metrics", daemon=True).start()
    _server = server
    log.info("serving /metrics and /healthz on %s:%d", host, port)
    return server


def stop_server() -> None:
    global _server
    if _server is not None:
        _server.shutdown()
        _server.server_close()
        _server = None


def celery_health(app: Any, consumer: Any, timeout_s: float = 3.0) -> HealthCheck:
    """Healthy while the worker's consumer holds a broker connection and the broker answers a
    fresh connection now (Celery drops the consumer's connection while it reconnects). Says
    nothing about the engine: a worker whose engine fails to load exits before it is ready."""

    def check() -> tuple[bool, str]:
        conn = getattr(consumer, "connection", None)
        if conn is None or not conn.connected:
            return False, "the worker is not connected to its broker (reconnecting)"
        probe = app.connection_for_read(connect_timeout=timeout_s)
        try:
            probe.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s)
        except Exception as err:
            return False, f"broker unreachable: {type(err).__name__}: {err}"
        finally:
            probe.release()
        return True, "ok"

    return CachedCheck(check)


class CachedCheck:
    """Runs an expensive health check at most once per `ttl_s`; concurrent callers share the answer."""

    def __init__(self, check: HealthCheck, ttl_s: float = 2.0) -> None:
        self.check, self.ttl_s = check, ttl_s
        self._lock = threading.Lock()
        self._at = 0.0
        self._last: tuple[bool, str] = (False, "not checked yet")

    def __call__(self) -> tuple[bool, str]:
        with self._lock:
            if time.monotonic() - self._at >= self.ttl_s:
                try:
                    self._last = self.check()
                except Exception as err:
                    self._last = (False, f"{type(err).__name__}: {err}")
                self._at = time.monotonic()
            return self._last
