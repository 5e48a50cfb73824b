"""What a worker process holds once: settings, Redis, stores, the engine and the runner.

Built lazily in the process that runs jobs (after the fork), because CUDA and ONNX sessions
must not cross a fork.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from celery import Celery

from models.base import Engine
from shared.infra.blobs import BlobStore
from shared.infra.redis_client import connect
from shared.infra.settings import Settings, get_settings
from shared.infra.storage import open_blob_store
from shared.jobs.store import JobStore
from workers.celery_app import page_sender
from workers.runner import JobRunner


@dataclass
class Runtime:
    settings: Settings
    store: JobStore
    blobs: BlobStore
    engine: Engine
    runner: JobRunner


_lock = threading.Lock()
_runtime: Runtime | None = None


def build_runtime(settings: Settings, engine: Engine, celery: Celery | None = None) -> Runtime:
    from workers.finished_hooks import finished_hooks

    store = JobStore(connect(settings.redis_url, "ocrq-worker"), settings.retention_s)
    blobs = open_blob_store(settings)
    runner = JobRunner(settings, store, blobs, engine, on_finished=finished_hooks(settings, store, celery),
                       send_page=page_sender(celery) if celery is not None else None)
    return Runtime(settings, store, blobs, engine, runner)


def get_runtime(celery: Celery | None = None) -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            from models.registry import load_engine

            settings = get_settings()
            _runtime = build_runtime(settings, load_engine(settings), celery)
        return _runtime


def set_runtime(rt: Runtime | None) -> None:
    global _runtime
    with _lock:
        _runtime = rt
