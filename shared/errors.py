"""The domain's exceptions, one module for all of them (the gateway maps each to HTTP once).

Every error carries a stable ``code`` (the suffix of the problem ``type`` the API answers) and a
one-line message fit for a client. ``retry_after_s`` is set on errors that go away by themselves.
Nothing below ``api/`` knows about HTTP; ``api/problems.py`` holds the one table from these
classes to status codes, and lists every code per status (with its docstring) in /openapi.json.
"""

from __future__ import annotations

from typing import Any


class OcrqError(Exception):
    """Any error of the domain: a stable ``code``, a message fit for a client."""

    code = "error"
    retry_after_s: int | None = None

    def __init__(self, message: str, *, code: str | None = None, retry_after_s: int | None = None,
                 errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retry_after_s is not None:
            self.retry_after_s = retry_after_s
        self.errors = errors


class InvalidRequest(OcrqError):
    """The request is malformed (400): a parameter that cannot be read at all."""

    code = "bad_request"


class ValidationFailed(OcrqError):
    """A well-formed request with a value the domain does not accept (422), naming the field."""

    code = "validation_error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", errors=[{"field": field, "message": message}])
        self.field = field


class RescanNeeded(ValidationFailed):
    """quality=require and the photo should be retaken (422): nothing was stored or queued."""

    code = "rescan_needed"

    def __init__(self, reasons: list[str]) -> None:
        OcrqError.__init__(self, f"retake the photo: {', '.join(reasons)}",
                           errors=[{"field": "file", "reason": r, "message": RESCAN_MESSAGES.get(r, r)}
                                   for r in reasons])
        self.field = "file"
        self.reasons = reasons


RESCAN_MESSAGES = {
    "too_dark": "the photo is too dark",
    "overexposed": "the photo is overexposed (washed out)",
    "blurred": "the photo is blurred",
    "glare": "a reflection (glare) covers part of the label",
    "too_small": "the photo has too few pixels to read",
}


class NotFound(OcrqError):
    """No such resource (or not this tenant's)."""

    code = "not_found"


class Forbidden(OcrqError):
    """This tenant may not do that."""

    code = "forbidden"


class Conflict(OcrqError):
    """The request conflicts with the current state of what it names (409)."""

    code = "conflict"


class Gone(OcrqError):
    """The job is past expires_at, or its data was deleted."""

    code = "expired"


class TooLarge(OcrqError):
    """The request body or the input is larger than the limit."""

    code = "payload_too_large"


class UnsupportedMedia(OcrqError):
    """The bytes are not of a kind ocrq reads (415)."""

    code = "unsupported_media_type"


class Unprocessable(OcrqError):
    """Well-formed, of a known kind, and still unusable: an encrypted or damaged document (422)."""

    code = "unprocessable"


class Unavailable(OcrqError):
    """Something the request needs is down or full for now (503 + Retry-After)."""

    code = "unavailable"
    retry_after_s = 2


class QueueFull(Unavailable):
    """The interactive queue is deeper than OCRQ_INTERACTIVE_QUEUE_MAX (Retry-After)."""

    code = "queue_full"
    retry_after_s = 5


class StorageUnavailable(Unavailable):
    """The blob store (MinIO/S3) is unreachable (Retry-After)."""

    code = "storage_unavailable"

    def __init__(self, message: str = "storage is unavailable; retry shortly") -> None:
        super().__init__(message)


class IdempotencyKeyReused(Conflict):
    """The Idempotency-Key was used with another image or other options."""

    code = "idempotency_key_reused"


class IdempotencyInProgress(Conflict):
    """The first request with this Idempotency-Key is still storing its job (Retry-After)."""

    code = "idempotent_request_in_progress"
    retry_after_s = 1


class UnsafeWebhookUrl(InvalidRequest):
    """The webhook URL is refused by the SSRF guard (scheme, host, address)."""

    code = "unsafe_webhook_url"
