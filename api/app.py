"""The Flask app factory and the services every request handler shares."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import redis
from flask import Flask, current_app, g, request

from api import problems
from api.ratelimit import RateLimiter
from shared.apikeys import KeyStore
from shared.blobs import BlobStore, open_blob_store
from shared.jobstore import JobStore
from shared.redis_client import connect
from shared.settings import Settings, get_settings

SendJob = Callable[[str, str], None]  # (job_id, queue)


@dataclass
class Services:
    settings: Settings
    redis: redis.Redis
    store: JobStore
    blobs: BlobStore
    keys: KeyStore
    limiter: RateLimiter
    send_job: SendJob


def services() -> Services:
    return current_app.extensions["ocrq"]  # type: ignore[no-any-return]


def _celery_sender(settings: Settings) -> SendJob:
    # The gateway only sends task messages by name; it never imports worker code or engines.
    from workers.celery_app import TASK_RUN_JOB, make_celery

    app = make_celery(settings)

    def send(job_id: str, queue: str) -> None:
        app.send_task(TASK_RUN_JOB, args=[job_id], queue=queue)

    return send


def create_app(settings: Settings | None = None, *, send_job: SendJob | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask("ocrq", static_folder=None)
    # Werkzeug refuses bodies over this before reading them (413), chunked ones included.
    # MAX_FORM_MEMORY_SIZE is the same bound: Werkzeug's multipart decoder applies it to its
    # parse buffer, which can hold a large slice of a file part, so a smaller value refuses
    # ordinary uploads (an 800 KB scan did).
    body_max = settings.max_upload_bytes + 64 * 1024
    app.config.update(
        MAX_CONTENT_LENGTH=body_max,
        MAX_FORM_MEMORY_SIZE=body_max,
        MAX_FORM_PARTS=32,
        JSON_SORT_KEYS=False,
    )
    client = connect(settings.redis_url, "ocrq-api")
    app.extensions["ocrq"] = Services(
        settings=settings,
        redis=client,
        store=JobStore(client, settings.retention_s),
        blobs=open_blob_store(settings),
        keys=KeyStore(client),
        limiter=RateLimiter(client, settings.rate_per_s, settings.rate_burst),
        send_job=send_job or _celery_sender(settings),
    )
    problems.install(app)

    from api import batches, console, health, jobs, metrics, openapi, webhooks

    for module in (health, jobs, metrics, openapi, webhooks, batches, console):
        app.register_blueprint(module.bp)
    metrics.instrument(app)

    @app.after_request
    def _security_headers(resp):  # type: ignore[no-untyped-def]
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    logging.getLogger("ocrq.api").debug("gateway ready")
    return app


def client_ip() -> str:
    return request.remote_addr or "?"


def tenant() -> str:
    return g.api_key.tenant  # type: ignore[no-any-return]
