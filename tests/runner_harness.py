"""Driving the worker's JobRunner in-process: stub engines and a job submitted straight to the store (real
Redis, a local blob store), for tests that check the runner's logic without a gateway or Celery."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from models.base import EngineError, EngineOutput
from shared.infra.blobs import LocalBlobStore, input_key
from shared.infra.redis_client import connect
from shared.infra.settings import Settings, load_settings
from shared.jobs import InputRef, Job, new_job_id
from shared.jobs.store import JobStore
from shared.results.model import Line


def runner_env(redis_url: str, root: Path) -> tuple[Settings, JobStore, LocalBlobStore]:
    """Settings (3 attempts, 256 px decode), a job store and a local blob store under ``root``."""
    settings = load_settings(redis_url=redis_url, storage_url=f"file://{root}", max_attempts=3, max_side=256)
    return settings, JobStore(connect(redis_url), 3600), LocalBlobStore(root, "ocrq")


class BoxEngine:
    """Returns one fixed line per image; raises or errors on images marked as poison."""

    name, version, tasks = "box", "1", frozenset({"text"})

    def __init__(self, crash_on_width: int | None = None):
        self.crash_on_width = crash_on_width
        self.calls = 0

    def run(self, requests):
        self.calls += 1
        out = []
        for req in requests:
            if req.image.size[0] == self.crash_on_width:
                raise RuntimeError("engine crashed")
            if req.image.size[0] == 123:
                out.append(EngineError("bad_image", "cannot read this one"))
                continue
            out.append(EngineOutput(text="hello", lines=[Line(text="hello", box=(10, 10, 50, 20))]))
        return out


class FieldsEngine:
    """Answers the fields task with fixed values (what a VLM would read off the label), whatever the image."""

    name, version, tasks = "fields-stub", "1", frozenset({"text", "fields", "ask"})

    def __init__(self, answer: dict) -> None:
        self.answer = answer

    def run(self, requests):
        return [EngineOutput(text=json.dumps(self.answer), fields=dict(self.answer)) for _ in requests]


def submit(store, blobs, data, tenant="acme"):  # type: ignore[no-untyped-def]
    """A job for these image bytes, its input stored as the gateway would; returns its id."""
    sha = hashlib.sha256(data).hexdigest()
    blobs.put(input_key(tenant, sha), data)
    job = Job(id=new_job_id(), tenant=tenant,
              input=InputRef(bucket="ocrq", key=input_key(tenant, sha), sha256=sha, bytes=len(data),
                             content_type="image/jpeg", width=0, height=0))
    store.create(job)
    return job.id


class WrappingEngine:
    """Interrupted inside its own code and wrapping what it caught the way RapidOCR does
    (``raise ONNXRuntimeError(traceback.format_exc()) from e``): by default a Celery soft time limit,
    the real classes of both."""

    name, version, tasks = "wrapping", "1", frozenset({"text"})

    def __init__(self, inner: BaseException | None = None) -> None:
        from celery.exceptions import SoftTimeLimitExceeded

        self.inner = inner if inner is not None else SoftTimeLimitExceeded()
        self.calls = 0

    def run(self, requests):
        import traceback

        from rapidocr.inference_engine.onnxruntime import ONNXRuntimeError

        self.calls += 1
        try:
            raise self.inner
        except Exception as e:
            raise ONNXRuntimeError(traceback.format_exc()) from e
