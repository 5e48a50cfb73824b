"""What the client raises: one base class, and an answer of the gateway kept whole."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx

PROBLEM_PREFIX = "urn:ocrq:problem:"


class OcrqError(Exception):
    """Every error this package raises."""


class ApiError(OcrqError):
    """The gateway answered with an error (RFC 9457 problem+json, or a proxy's page).

    ``str(err)`` is ``"<status> <title>: <detail>"``; ``code`` is the problem's stable code
    (``job_not_found``, ``rate_limited``, ...), to switch on; ``problem`` the whole document."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.problem: dict[str, Any] = {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            self.problem = body
            text = f"{self.status} {body.get('title', '')}: {body.get('detail', '')}"
        else:
            text = f"{self.status} {response.reason_phrase}"
        kind = str(self.problem.get("type", ""))
        self.code: str | None = kind.removeprefix(PROBLEM_PREFIX) if kind.startswith(PROBLEM_PREFIX) else None
        self.title: str = str(self.problem.get("title", response.reason_phrase))
        self.detail: str | None = self.problem.get("detail")
        self.errors: list[dict[str, Any]] = list(self.problem.get("errors") or [])
        self.retry_after: float | None = retry_after(response.headers)
        super().__init__(text)


class TransportError(OcrqError):
    """The gateway could not be reached (or stopped answering) after the retries."""


class JobTimeout(OcrqError, TimeoutError):
    """``Client.wait`` ran out of time; ``job`` is the job as last seen (queued or running)."""

    def __init__(self, job: Any, timeout: float) -> None:
        self.job = job
        super().__init__(f"job {job.id} still {job.status} after {timeout:.0f} s")


class BatchTimeout(OcrqError, TimeoutError):
    """``Client.wait_batch`` ran out of time; ``batch`` is the batch as last seen (it keeps running)."""

    def __init__(self, batch: Any, timeout: float) -> None:
        self.batch = batch
        super().__init__(f"batch {batch.id} not done after {timeout:.0f} s (it keeps running)")


class WebhookVerificationError(OcrqError):
    """A delivery failed verification (``verify_webhook``); the message says why in one line."""


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds: a number, or an HTTP date (RFC 9110); None when absent or unreadable."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
