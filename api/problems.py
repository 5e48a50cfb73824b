"""RFC 9457 problem+json for every error the gateway answers; never a stack trace.

The domain raises ``shared.errors`` exceptions and knows nothing of HTTP; ``STATUS`` below is the
one place where they (and the gateway's own, declared here and beside the blueprints that raise
them) become status codes. ``catalogue()`` lists every code per status, with the meaning its class's
docstring gives: /openapi.json is written from it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from flask import Flask, Response, current_app, json, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from shared import errors
from shared.infra.blobs import BlobStoreError
from shared.intake.jsonlimits import JsonTooDeep

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


# ------------------------------------------------------------------ the gateway's own problems
# Every code a client can get is declared once, as a class: the domain's in shared/ (shared.errors and
# the modules that raise them), the gateway's below and beside the blueprint that raises them. Its
# status comes from STATUS (the class it derives from), its meaning from its docstring; catalogue()
# lists them per status for /openapi.json.
class GatewayError(errors.OcrqError):
    """An error only the gateway answers (authentication, rate limits, requests it cannot read)."""

    def __init__(self, message: str, *, headers: dict[str, str] | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message, errors=errors)
        self.headers = headers or {}


class Unauthorized(GatewayError):
    """The API key is missing, unknown or revoked."""

    code = "unauthorized"


class RateLimited(GatewayError):
    """Too many requests for this API key: retry after Retry-After seconds."""

    code = "rate_limited"


class MethodNotAllowed(GatewayError):
    """The path exists but not with this method (Allow lists those it has)."""

    code = "method_not_allowed"


class NotAcceptable(GatewayError):
    """No representation matches the Accept header."""

    code = "not_acceptable"


class InternalError(GatewayError):
    """An unexpected error; it has been logged (never a stack trace in the answer)."""

    code = "internal_error"


class InvalidQuery(errors.InvalidRequest):
    """A query parameter is malformed, out of range, unknown, or given twice."""

    code = "invalid_query"


class InvalidWait(errors.InvalidRequest):
    """`wait` is not a number of seconds from 0 to the long-poll cap."""

    code = "invalid_wait"


class MalformedJson(errors.InvalidRequest):
    """The body, or a JSON-valued form field, is not the JSON object asked for."""

    code = "malformed_json"


class MissingFile(errors.InvalidRequest):
    """A multipart upload without its file part."""

    code = "missing_file"


class UnknownTask(errors.InvalidRequest):
    """The task is not one ocrq knows."""

    code = "unknown_task"


class TaskNotSupported(errors.InvalidRequest):
    """The configured engine cannot do this task (refused before anything is queued)."""

    code = "unsupported_task"


class InvalidTaskParams(errors.InvalidRequest):
    """The task's parameters do not fit it (fields, target_lang, instruction)."""

    code = "invalid_task_params"


class BucketNotAllowed(errors.Forbidden):
    """This tenant may not read or write that bucket."""

    code = "bucket_not_allowed"


class ServiceUnavailable(errors.Unavailable):
    """The job store (Redis) is unreachable."""

    code = "service_unavailable"


# Most specific first: the first class an error is an instance of decides its status.
STATUS: tuple[tuple[type[errors.OcrqError], int], ...] = (
    (errors.ValidationFailed, 422),
    (errors.InvalidRequest, 400),
    (Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (MethodNotAllowed, 405),
    (NotAcceptable, 406),
    (errors.Conflict, 409),
    (errors.Gone, 410),
    (errors.TooLarge, 413),
    (errors.UnsupportedMedia, 415),
    (errors.Unprocessable, 422),
    (RateLimited, 429),
    (InternalError, 500),
    (errors.Unavailable, 503),
)
# The domain's classes alone (kept under its old name for whoever imported it).
DOMAIN_STATUS = tuple((cls, st) for cls, st in STATUS if cls.__module__ == errors.__name__)

# A werkzeug HTTPException (routing, body limits) by status; any other status is http_error.
_HTTP_CLASSES: dict[int, type[errors.OcrqError]] = {
    cls_status: cls for cls, cls_status in reversed(STATUS)
    if cls in (errors.InvalidRequest, Unauthorized, errors.Forbidden, errors.NotFound, MethodNotAllowed,
               NotAcceptable, errors.Conflict, errors.Gone, errors.TooLarge, errors.UnsupportedMedia,
               errors.Unprocessable, RateLimited, errors.Unavailable)
}


def status_of(cls: type[errors.OcrqError]) -> int | None:
    return next((st for base, st in STATUS if issubclass(cls, base)), None)


def _declared(root: type[errors.OcrqError]) -> list[type[errors.OcrqError]]:
    out, todo = [], [root]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        # the project's own (a test's or a worker's subclass is no answer of the gateway)
        if "code" in vars(cls) and cls.__module__.split(".")[0] in ("shared", "api"):
            out.append(cls)
    return sorted(out, key=lambda c: (c.__module__, c.__qualname__))


def _meaning(cls: type) -> str:
    return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())


def problem_classes() -> dict[str, type[errors.OcrqError]]:
    """code -> its class, for codes with one class (validation answers with these by code)."""
    found: dict[str, type[errors.OcrqError]] = {}
    for cls in _declared(errors.OcrqError):
        found.setdefault(cls.code, cls)
    return found


def catalogue() -> dict[int, dict[str, str]]:
    """Every problem code a client can get, per status, with its meaning."""
    out: dict[int, dict[str, str]] = {}
    for cls in _declared(errors.OcrqError):
        status = status_of(cls)
        if status is not None:
            out.setdefault(status, {}).setdefault(cls.code, _meaning(cls))
    return {st: dict(sorted(codes.items())) for st, codes in sorted(out.items())}


def raise_as(cls: type[errors.OcrqError], detail: str, errors_: list[dict[str, Any]] | None = None) -> None:
    """Raise ``cls`` with this detail, whatever its own constructor takes."""
    err = cls.__new__(cls)
    errors.OcrqError.__init__(err, detail, errors=errors_)
    raise err


def from_validation(err: ValidationError, *, prefix: str = "") -> ApiProblem:
    errors_ = [
        {"field": prefix + ".".join(str(p) for p in e.get("loc", ())),
         "message": e.get("msg", "invalid").removeprefix("Value error, ")}
        for e in err.errors(include_url=False)
    ]
    first = errors_[0] if errors_ else {"field": "", "message": "invalid"}
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return ApiProblem(422, "validation_error", detail, title="Invalid request", errors=errors_)


def from_domain(err: errors.OcrqError) -> ApiProblem:
    status = status_of(type(err)) or 500
    headers = {"Retry-After": str(err.retry_after_s)} if err.retry_after_s else {}
    headers.update(getattr(err, "headers", {}))
    title = "Invalid request" if err.code == "validation_error" else None
    return ApiProblem(status, err.code, err.message, title=title, headers=headers, errors=err.errors)


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

    @app.errorhandler(BlobStoreError)
    def _storage(err: BlobStoreError) -> Response:
        _outage("storage", err)
        return problem_response(from_domain(errors.StorageUnavailable()))

    @app.errorhandler(redis.RedisError)
    def _redis(err: redis.RedisError) -> Response:
        _outage("redis", err)
        return problem_response(from_domain(ServiceUnavailable("the job store is unavailable; retry shortly")))

    @app.errorhandler(ApiProblem)
    def _api_problem(err: ApiProblem) -> Response:
        return problem_response(err)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response:
        status = err.code or 500
        code = _HTTP_CLASSES[status].code if status in _HTTP_CLASSES else "http_error"
        detail = err.description or code
        if status == 413:
            limit = current_app.config.get("OCRQ_UPLOAD_LIMIT")
            detail = "the request body is larger than the upload limit" + (f" of {mib(limit)}" if limit else "")
        # Keep the exception's own headers (405 must carry Allow, RFC 9110), not its HTML body's.
        headers = {k: v for k, v in err.get_headers() if k.lower() not in ("content-type", "content-length")}
        return problem_response(ApiProblem(status, code, detail, title=err.name, headers=headers))

    @app.errorhandler(RecursionError)
    def _too_deep(err: RecursionError) -> Response:  # a nesting bound missed somewhere: still the client's input
        return problem_response(from_domain(JsonTooDeep("the request is nested too deeply")))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(from_domain(InternalError("an internal error occurred; it has been logged")))


def mib(n: int) -> str:
    """A byte limit as people read it in an error: '20 MiB (20971520 bytes)', '200 KiB (204800 bytes)'."""
    size = f"{n / 2**20:.3g} MiB" if n >= 2**20 else f"{n / 2**10:.3g} KiB"
    return f"{size} ({n} bytes)"
