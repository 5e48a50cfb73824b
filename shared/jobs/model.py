"""The job model and its state machine.

    queued ──▶ running ──▶ succeeded
       │          │  └───▶ failed
       └──────────┴──────▶ canceled (queued only) / failed (attempt cap)

A running job whose worker died goes running ──▶ running again with attempt + 1 (a takeover of
an expired lease). Every change is a compare-and-set in Redis (see shared.jobs.store).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field

from shared.jobs.task_spec import TaskSpec


class Status(str, Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    canceled = "canceled"


TERMINAL = frozenset({Status.succeeded, Status.failed, Status.canceled})


def new_job_id() -> str:
    # 160 random bits, URL-safe; sequential or guessable ids would leak other tenants' jobs.
    return "job_" + secrets.token_urlsafe(20)


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_ms(ms: int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 UTC with a Z, as every API answer and event shows time."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class InputRef(BaseModel):
    bucket: str
    key: str
    sha256: str
    bytes: int
    content_type: str
    width: int
    height: int


class JobError(BaseModel):
    code: str
    message: str


class Job(BaseModel):
    id: str
    tenant: str
    status: Status = Status.queued
    spec: TaskSpec = Field(default_factory=TaskSpec)
    priority: str = "interactive"
    input: InputRef
    result_key: str | None = None
    error: JobError | None = None
    attempts: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    webhook_url: str | None = None
    batch_id: str | None = None
    created_at: int = Field(default_factory=now_ms)  # epoch milliseconds
    updated_at: int = Field(default_factory=now_ms)
    started_at: int | None = None
    finished_at: int | None = None
    expires_at: int | None = None
    worker: str | None = None
    lease_until: int | None = None
    # When a worker first found storage down for this job (epoch ms); the runner retries without
    # spending attempts until OCRQ_STORAGE_OUTAGE_DEADLINE_S past this. Not shown in the API.
    storage_wait_since: int | None = None
    # Set when the job succeeds: a decoded label a human should look at (shared/labels/review_reasons.py codes).
    needs_review: bool = False
    review_reasons: list[str] | None = None
    # The human review of a succeeded job (shared/reviews/): None until routing opens one. One JSON field,
    # changed only by compare-and-set (shared/reviews/store.py); the job's status stays succeeded.
    review: dict[str, Any] | None = None
    # Documents only (PDF, multi-page TIFF); None on image jobs, so their records stay as they were.
    pages_total: int | None = None  # pages in the document
    pages: list[int] | None = None  # the selected pages, 1-based, sorted
    progress: dict[str, int] | None = None  # {pages_done, pages_total} while the worker renders and reads
    pages_failed: int | None = None  # set when the job finishes (needs_review is set too when > 0)
    # quality=check: the rescan verdict the 202 answered (shared/intake/quality.py Quality.as_dict()); else None.
    quality: dict[str, Any] | None = None
    # Tracing on (shared/infra/tracing.py): the W3C traceparent of the gateway's submit span, which worker
    # and webhook spans continue (a re-sent message too), and its trace id, shown in the job document.
    traceparent: str | None = None
    trace_id: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL
