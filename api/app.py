"""The Flask app factory and the services every request handler shares."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider

from api import batches, console, docs, health, jobs, metrics, openapi, problems, reviews, submit, webhooks
from api.context import EXTENSION, Services
from api.ratelimit import RateLimiter
from shared.infra import tracing
from shared.infra.broker import TASK_RUN_JOB, celery_config
from shared.infra.redis_client import connect
from shared.infra.settings import Settings, get_settings
from shared.infra.storage import open_blob_store
from shared.intake import jsonlimits
from shared.jobs.store import JobStore
from shared.jobs.submit import SendJob, Submitter
from shared.tenants import KeyStore
from shared.webhooks.outbox import Outbox


def _celery_sender(settings: Settings) -> SendJob:
    # The gateway only sends task messages by name, configured as the workers are
    # (shared.infra.broker); it never imports worker code or engines.
    app = Celery("ocrq-api")
    app.conf.update(celery_config(settings))

    def send(job_id: str, queue: str) -> None:
        app.send_task(TASK_RUN_JOB, args=[job_id], queue=queue)

    return send


class _BoundedJson(DefaultJSONProvider):
    """Request bodies parse with a nesting bound (shared.intake.jsonlimits): too deep is a 400, not a 500."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return jsonlimits.loads(s, what="the request body")


def create_app(settings: Settings | None = None, *, send_job: SendJob | None = None) -> Flask:
    settings = settings or get_settings()
    # OpenTelemetry only with OTEL_EXPORTER_OTLP_ENDPOINT set (shared/infra/tracing.py); each gunicorn
    # worker builds its app after the fork, so each sets its own exporter up.
    if tracing.setup("api"):
        tracing.instrument_celery()  # the job message carries the submit's traceparent
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
        OCRQ_UPLOAD_LIMIT=settings.max_upload_bytes,  # what a 413 names (the body limit adds form overhead)
    )
    client = connect(settings.redis_url, "ocrq-api")
    store = JobStore(client, settings.retention_s)
    sender = send_job or _celery_sender(settings)
    app.extensions[EXTENSION] = Services(
        settings=settings,
        redis=client,
        store=store,
        blobs=open_blob_store(settings),
        keys=KeyStore(client),
        limiter=RateLimiter(client, settings.rate_per_s, settings.rate_burst),
        send_job=sender,
        submitter=Submitter(settings, client, store, sender),
        outbox=Outbox(client, settings),
    )
    app.json = _BoundedJson(app)
    problems.install(app)

    # submit before jobs: POST /v1/jobs stays ahead of GET in the OpenAPI document's path item
    for module in (health, submit, jobs, metrics, openapi, webhooks, batches, reviews, console, docs):
        app.register_blueprint(module.bp)
    metrics.instrument(app)
    tracing.instrument_flask(app)

    @app.after_request
    def _security_headers(resp: Response) -> Response:
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    logging.getLogger("ocrq.api").debug("gateway ready")
    return app

