"""RFC 9457 problem+json for every error the gateway answers; never a stack trace.

The domain raises ``shared.errors`` exceptions and knows nothing of HTTP; ``DOMAIN_STATUS`` below
is the one place where they become status codes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from flask import Flask, Response, json, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from shared import errors
from shared.blobs import BlobStoreError
from shared.images import ImageRejected

log = logging.getLogger("ocrq.api")

PROBLEM_TYPE = "urn:ocrq:problem:{}"
PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.title = title or code.replace("_", " ").capitalize()
        self.headers = headers or {}
        self.errors = errors


def problem_response(p: ApiProblem) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE.format(p.code),
        "title": p.title,
        "status": p.status,
        "detail": p.detail,
        "instance": request.path if request else None,
    }
    if p.errors:
        body["errors"] = p.errors
    resp = Response(json.dumps(body), status=p.status, mimetype=PROBLEM_JSON)
    for k, v in p.headers.items():
        resp.headers[k] = v
    return resp


def from_validation(err: ValidationError, *, prefix: str = "") -> ApiProblem:
    errors = [
        {"field": prefix + ".".join(str(p) for p in e.get("loc", ())), "message": e.get("msg", "invalid")}
        for e in err.errors(include_url=False)
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid"}
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return ApiProblem(422, "validation_error", detail, title="Invalid request", errors=errors)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    503: "unavailable",
}


# Most specific first: the first class an error is an instance of decides its status.
DOMAIN_STATUS: tuple[tuple[type[errors.OcrqError], int], ...] = (
    (errors.ValidationFailed, 422),
    (errors.InvalidRequest, 400),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Gone, 410),
    (errors.TooLarge, 413),
    (errors.UnsupportedMedia, 415),
    (errors.Unprocessable, 422),
    (errors.Unavailable, 503),
)


# A document refused at submit (shared/documents.py), by its stable code; any other code is 422.
def from_domain(err: errors.OcrqError) -> ApiProblem:
    status = next((st for cls, st in DOMAIN_STATUS if isinstance(err, cls)), 500)
    headers = {"Retry-After": str(err.retry_after_s)} if err.retry_after_s else {}
    return ApiProblem(status, err.code, err.message, headers=headers, errors=err.errors)


class _OutageLog:
    """One log line when a backing service starts failing, then at most one a minute while it
    goes on: an outage under load must not write a line (and a traceback) per request."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, what: str, err: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(what, -1e9) < self.every_s:
                return
            self._last[what] = now
        log.error("%s unavailable: %s: %s", what, type(err).__name__, err)


_outage = _OutageLog()


def install(app: Flask) -> None:
    @app.errorhandler(errors.OcrqError)
    def _domain(err: errors.OcrqError) -> Response:
        return problem_response(from_domain(err))

    @app.errorhandler(ImageRejected)
    def _image(err: ImageRejected) -> Response:
        return problem_response(ApiProblem(err.status, err.code, err.message))

    @app.errorhandler(BlobStoreError)
    def _storage(err: BlobStoreError) -> Response:
        _outage("storage", err)
        return problem_response(ApiProblem(503, "storage_unavailable", "storage is unavailable; retry shortly",
                                           headers={"Retry-After": "2"}))

    @app.errorhandler(redis.RedisError)
    def _redis(err: redis.RedisError) -> Response:
        _outage("redis", err)
        return problem_response(ApiProblem(503, "service_unavailable", "the job store is unavailable; retry shortly",
                                           headers={"Retry-After": "2"}))

    @app.errorhandler(ApiProblem)
    def _api_problem(err: ApiProblem) -> Response:
        return problem_response(err)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        detail = err.description or code
        if status == 413:
            detail = "the request body is larger than the upload limit"
        # Keep the exception's own headers (405 must carry Allow, RFC 9110), not its HTML body's.
        headers = {k: v for k, v in err.get_headers() if k.lower() not in ("content-type", "content-length")}
        return problem_response(ApiProblem(status, code, detail, title=err.name, headers=headers))

    @app.errorhandler(RecursionError)
    def _too_deep(err: RecursionError) -> Response:  # a nesting bound missed somewhere: still the client's input
        return problem_response(ApiProblem(400, "json_too_deep", "the request is nested too deeply"))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(ApiProblem(500, "internal_error", "an internal error occurred; it has been logged"))
