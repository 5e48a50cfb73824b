"""GET /openapi.json: the OpenAPI 3.1 document of the gateway, generated from the pydantic models.

Schemas come from ``shared.api_schemas`` (``models_json_schema`` with
``ref_template="#/components/schemas/{model}"``; nested ``$defs`` become components). The
operations below list every route of the gateway with its parameters, bodies, responses and
errors; every error is ``application/problem+json`` with the ``Problem`` schema.

A later blueprint documents its own routes by exposing ``openapi_paths() -> dict`` (an OpenAPI
``paths`` object) in its module; those are merged in when the blueprint is registered.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from pydantic.json_schema import models_json_schema

from api.context import services
from shared import api_schemas as m
from shared.tasks import ENGINE_TASKS, TASK_NAMES

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
PROBLEM = "application/problem+json"

_MODELS: list[tuple[type, str]] = [
    (m.Problem, "serialization"),
    (m.JobCreate, "validation"),
    (m.JobOut, "serialization"),
    (m.JobList, "serialization"),
    (m.Health, "serialization"),
]

# Every problem `type` is urn:ocrq:problem:<code>; these are the codes each status can carry.
ERROR_CODES: dict[int, str] = {
    400: "malformed_json, missing_file, empty_file, unknown_task, unsupported_task, invalid_task_params, "
         "invalid_wait, invalid_query, invalid_idempotency_key, unsafe_webhook_url, json_too_deep, bad_request",
    401: "unauthorized (missing, unknown or revoked API key)",
    403: "bucket_not_allowed",
    404: "job_not_found, source_not_found, result_not_available (not finished yet), webhook_not_found, "
         "batch_not_found, manifest_not_found, not_found",
    405: "method_not_allowed",
    409: "idempotency_key_reused, idempotent_request_in_progress, not_cancelable, job_running, result_not_available, "
         "too_many_webhooks, secret_already_revealed, nothing_to_redeliver, batch_canceled",
    410: "expired (the job is past expires_at, or its data was deleted)",
    413: "payload_too_large, too_many_pixels",
    415: "unsupported_media_type (request body or image format)",
    422: "validation_error (names the field), invalid_image, corrupt_image, too_many_frames, unreadable_shape, "
         "invalid_manifest, rescan_needed (quality=require: errors[].reason name what to fix), invalid_pages, "
         "page_unreadable, render_timeout",
    429: "rate_limited",
    500: "internal_error",
    503: "queue_full, storage_unavailable, service_unavailable (Redis), replicas_unavailable, preview_busy",
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
_LOCATION = {"Location": {"description": "The job's URL", "schema": {"type": "string"}}}


def _problem(status: int, *, retry_after: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": f"Problem: {ERROR_CODES.get(status, 'error')}",
        "content": {PROBLEM: {"schema": {"$ref": REF.format(model="Problem")}}},
    }
    if retry_after:
        out["headers"] = dict(_RETRY_AFTER)
    return out


# gunicorn answers these itself, before the application sees the request (not problem+json).
_SERVER_ERRORS = {
    "414": {"description": "URI too long (over 4094 bytes in the request line); from the HTTP server",
            "content": {"text/html": {"schema": {"type": "string"}}}},
}


def error_responses(*statuses: int) -> dict[str, Any]:
    always = (400, 401, 429, 500)  # 400: e.g. a query parameter given twice
    out = {}
    for st in sorted(set(statuses) | set(always)):
        out[str(st)] = _problem(st, retry_after=st in (429, 503))
    out.update(_SERVER_ERRORS)
    return out


def json_response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """A 200-style JSON response with an inline schema (for blueprints' own ``openapi_paths``)."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def operation(tag: str, op_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """One OpenAPI operation object (for blueprints' own ``openapi_paths``)."""
    return {"operationId": op_id, "summary": summary, "tags": [tag], "responses": responses, **extra}


def _json(model: str, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}}}
    if headers:
        out["headers"] = headers
    return out


_JOB_ID = {"name": "job_id", "in": "path", "required": True, "description": "A job id (job_...)",
           "schema": {"type": "string", "minLength": 1, "maxLength": 64}}
_IDEMPOTENCY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Repeat-safe submit: the same key (per tenant, 24 h) answers the first job with 200; "
                   "the same key with a different image or options is a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
}


def _multipart_schema(tasks: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {
            "file": {"type": "string", "contentMediaType": "application/octet-stream",
                     "description": "One image (jpeg, png, webp, bmp or single-page tiff)"},
            "task": {"type": "string", "enum": tasks, "default": "text",
                     "description": "The tasks this deployment's engine can do"},
            "fields": {"type": "string", "description": "task 'fields': a JSON list or comma-separated names"},
            "target_lang": {"type": "string", "enum": ["en", "zh"]},
            "instruction": {"type": "string", "maxLength": 2000},
            "priority": {"type": "string", "enum": ["interactive", "bulk"], "default": "interactive"},
            "webhook_url": {"type": "string", "maxLength": 2048},
            "metadata": {"type": "string", "description": "A JSON object (at most 4096 bytes), echoed back"},
            "pages": {"type": "string", "maxLength": 1000,
                      "description": 'PDF or multi-page TIFF: the pages to read, 1-based, e.g. "1-3,7" (default: all)'},
            "barcodes": {"type": "string", "enum": ["auto", "on", "off"], "default": "auto",
                         "description": "decode barcodes beside the task (auto: on for images)"},
            "quality": {"type": "string", "enum": ["check", "require"],
                        "description": "check: the 202 carries `quality` {verdict, reasons, sharpness, brightness, "
                                       "glare_fraction}, and so does the job (GET /v1/jobs/{id}, webhooks); "
                                       "require: a photo to retake is refused (422 rescan_needed), an accepted "
                                       "one is kept with its verdict"},
        },
    }


def _operations(wait_max: int, tasks: list[str]) -> dict[str, Any]:
    job_poll = _json("JobOut", "The job; `Retry-After` is set while it is not final", headers=dict(_RETRY_AFTER))
    return {
        "/v1/jobs": {
            "post": {
                "operationId": "submitJob",
                "summary": "Submit one image (multipart upload) or an object in an allowed bucket (JSON)",
                "tags": ["jobs"],
                "parameters": [_IDEMPOTENCY],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {"schema": _multipart_schema(tasks)},
                        "application/json": {"schema": {"$ref": REF.format(model="JobCreate")}},
                    },
                },
                "responses": {
                    "202": _json("JobOut", "Accepted: the job is queued", headers=dict(_LOCATION)),
                    "200": _json(
                        "JobOut",
                        "Idempotent replay: the job an earlier request with this key created",
                        headers=dict(_LOCATION),
                    ),
                    **error_responses(400, 403, 404, 409, 413, 415, 422, 503),
                },
            },
            "get": {
                "operationId": "listJobs",
                "summary": "The tenant's jobs, newest first, with cursor pagination",
                "tags": ["jobs"],
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
                    },
                    {
                        "name": "needs_review",
                        "in": "query",
                        "required": False,
                        "description": "only jobs flagged (true) or not flagged (false) for review",
                        "schema": {"type": "boolean"},
                    },
                    {
                        "name": "created_after",
                        "in": "query",
                        "required": False,
                        "description": "ISO 8601 timestamp (exclusive)",
                        "schema": {"type": "string", "format": "date-time"},
                    },
                    {
                        "name": "created_before",
                        "in": "query",
                        "required": False,
                        "description": "ISO 8601 timestamp (exclusive)",
                        "schema": {"type": "string", "format": "date-time"},
                    },
                    {
                        "name": "task",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(TASK_NAMES)},
                    },
                    {
                        "name": "priority",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["interactive", "bulk"]},
                    },
                    {
                        "name": "batch_id",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "description": "next_cursor of the previous page",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {"200": _json("JobList", "One page of jobs"), **error_responses(400)},
            },
        },
        "/v1/jobs/{job_id}": {
            "parameters": [_JOB_ID],
            "get": {
                "operationId": "getJob",
                "summary": "A job; with ?wait=N, long-poll until it is final or N seconds pass",
                "tags": ["jobs"],
                "parameters": [
                    {
                        "name": "wait",
                        "in": "query",
                        "required": False,
                        "description": f"Seconds to wait for a final state (0-{wait_max})",
                        "schema": {"type": "number", "minimum": 0, "maximum": wait_max},
                    }
                ],
                "responses": {"200": job_poll, **error_responses(400, 404, 410, 503)},
            },
            "delete": {
                "operationId": "cancelJob",
                "summary": "Cancel a queued job or a running document (its pages not yet started); "
                           "with ?purge=true delete a finished job and its data",
                "tags": ["jobs"],
                "parameters": [
                    {
                        "name": "purge",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]},
                    }
                ],
                "responses": {
                    "200": _json("JobOut", "Canceled"),
                    "204": {"description": "Purged: the job, its input and its result are deleted"},
                    **error_responses(404, 409, 410, 503),
                },
            },
        },
        "/v1/jobs/{job_id}/result": {
            "parameters": [_JOB_ID],
            "get": {
                "operationId": "getJobResult",
                "summary": "The OCR result of a succeeded job, as JSON or in a format to take away",
                "tags": ["jobs"],
                "parameters": [
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "description": "json: the result document (`pages` lists every page; `text` joins them with "
                        "form feeds); text: plain text, pages separated by form feeds; markdown; hocr: "
                        "hOCR (XHTML, one ocr_page per page, ocr_line boxes); pdf: a searchable PDF, "
                        "each page's image with an invisible text layer on the line boxes",
                        "schema": {
                            "type": "string",
                            "enum": ["json", "text", "markdown", "hocr", "pdf"],
                            "default": "json",
                        },
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The result in the requested format",
                        "content": {
                            "application/json": {"schema": {"$ref": REF.format(model="OcrResult")}},
                            "text/plain": {"schema": {"type": "string"}},
                            "text/markdown": {"schema": {"type": "string"}},
                            "application/xhtml+xml": {"schema": {"type": "string"}},
                            "application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}},
                        },
                    },
                    **error_responses(404, 409, 410, 503),
                },
            },
        },
        "/v1/jobs/{job_id}/image": {
            "parameters": [_JOB_ID],
            "get": {
                "operationId": "getJobImage",
                "summary": "The job's input image as submitted, or one page of a document as a preview image",
                "tags": ["jobs"],
                "parameters": [
                    {
                        "name": "page",
                        "in": "query",
                        "required": False,
                        "description": "1-based page of a document (PDF, multi-page TIFF), rendered by the gateway "
                        "as a JPEG preview (100 dpi, at most 1600 px a side, 10 s render limit); boxes in the "
                        "result's pages[i] scale to it by width. For an image job only 1 (the image itself). "
                        "Not a number: 400 invalid_query; past the last page: 422 invalid_pages; a page that "
                        "cannot be rendered: 422 page_unreadable or render_timeout; renderer busy: 503 "
                        "preview_busy. Without it: the stored input as submitted (a PDF for a PDF job).",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The input bytes (its own media type), or the page preview (image/jpeg)",
                        "content": {
                            "image/*": {"schema": {"type": "string", "contentMediaType": "image/*"}},
                            "application/pdf": {"schema": {"type": "string", "contentMediaType": "application/pdf"}},
                        },
                    },
                    **error_responses(404, 410, 422, 503),
                },
            },
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness",
                "tags": ["ops"],
                "security": [],
                "responses": {"200": _json("Health", "Alive")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness (Redis and storage reachable)",
                "tags": ["ops"],
                "security": [],
                "responses": {"200": _json("Health", "Ready"), "503": _json("Health", "Not ready")},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "tags": ["ops"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["ops"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def _components(tasks: list[str]) -> dict[str, Any]:
    _, top = models_json_schema(_MODELS, ref_template=REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    # A task the engine cannot do is refused (400 unsupported_task): the schema lists what it can.
    task = dict(schemas["JobCreate"]["properties"]["task"])
    task["enum"] = tasks
    task["description"] = "The tasks this deployment's engine can do (all: " + ", ".join(TASK_NAMES) + ")"
    schemas["JobCreate"] = {**schemas["JobCreate"], "properties": {**schemas["JobCreate"]["properties"], "task": task}}
    return {
        "schemas": schemas,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API key from `ocrq keys create`"}
        },
    }


def build_spec(
    wait_max: int = 30, engine: str = "rapidocr", extra_paths: dict[str, Any] | None = None
) -> dict[str, Any]:
    tasks = [t for t in TASK_NAMES if t in ENGINE_TASKS.get(engine, frozenset(TASK_NAMES))]
    paths = _operations(wait_max, tasks)
    for path, item in (extra_paths or {}).items():
        paths.setdefault(path, {}).update(item)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ocrq",
            "version": "1",
            "description": "Asynchronous OCR jobs. Errors are RFC 9457 problem+json with "
            "`type` = `urn:ocrq:problem:<code>`; see docs/api.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [{"name": "jobs"}, {"name": "webhooks"}, {"name": "batches"}, {"name": "ops"}],
        "paths": paths,
        "components": _components(tasks),
    }


_CONVERTER_SCHEMA = {"IntegerConverter": {"type": "integer"}, "FloatConverter": {"type": "number"}}


def _extra_paths(documented: dict[str, set[str]]) -> dict[str, Any]:
    """Routes of other blueprints: their own `openapi_paths()`, else a minimal entry per route."""
    extra: dict[str, Any] = {}
    for name, blueprint in current_app.blueprints.items():
        if name in ("jobs", "health", "metrics", "openapi", "console", "docs"):
            continue
        try:
            module = importlib.import_module(blueprint.import_name)
        except ImportError:
            continue
        fn = getattr(module, "openapi_paths", None)
        if callable(fn):
            extra.update(fn())
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith(("console.", "docs.")):
            continue  # the web console's and /docs' pages and assets are not API operations
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        params = [
            {
                "name": arg,
                "in": "path",
                "required": True,
                "schema": _CONVERTER_SCHEMA.get(type(conv).__name__, {"type": "string"}),
            }
            for arg, conv in rule._converters.items()  # noqa: SLF001 - werkzeug has no public accessor
        ]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if method.lower() in documented.get(path, set()):
                continue
            item = extra.setdefault(path, {})
            if method.lower() in item:
                continue
            item[method.lower()] = {
                "operationId": f"{rule.endpoint.replace('.', '_')}_{method.lower()}",
                "summary": f"{rule.endpoint} (documented by its own feature)",
                "tags": ["other"],
                **({"parameters": params} if params else {}),
                "responses": {"default": {"description": "See the feature's documentation"}},
            }
    return {p: item for p, item in extra.items() if item}


@bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    cache = current_app.extensions.setdefault("ocrq_openapi", {})
    if "spec" not in cache:
        st = services().settings
        documented = {p: {m for m in item if m != "parameters"} for p, item in _operations(30, ["text"]).items()}
        cache["spec"] = build_spec(st.wait_max_s, st.engine, _extra_paths(documented))
    resp = jsonify(cache["spec"])
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
