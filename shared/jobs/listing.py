"""Listing a tenant's jobs (GET /v1/jobs): newest first from the tenant's index, a page at a time,
with the filters the API offers. Read-only but for one repair: an index entry whose job record has
expired is dropped when met.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis

from shared.infra import keyspace
from shared.infra.redis_client import as_str
from shared.jobs.model import Job, Status
from shared.jobs.store import decode_job


@dataclass(frozen=True)
class JobFilter:
    """What GET /v1/jobs may filter on besides time; None: any."""

    status: Status | None = None
    needs_review: bool | None = None
    task: str | None = None
    priority: str | None = None
    batch_id: str | None = None

    def matches(self, job: Job) -> bool:
        return (
            (self.status is None or job.status == self.status)
            and (self.needs_review is None or bool(job.needs_review) == self.needs_review)
            and (self.task is None or job.spec.task == self.task)
            and (self.priority is None or job.priority == self.priority)
            and (self.batch_id is None or job.batch_id == self.batch_id)
        )



def list_for_tenant(
    r: redis.Redis,
    tenant: str,
    *,
    limit: int,
    before_ms: int | None = None,
    before_id: str | None = None,
    created_after_ms: int | None = None,
    created_before_ms: int | None = None,
    status: Status | None = None,
    needs_review: bool | None = None,
    where: JobFilter | None = None,
) -> list[Job]:
    """Newest first. The cursor is (created_at, id) of the last job of the previous page."""
    where = where or JobFilter(status=status, needs_review=needs_review)
    index = keyspace.tenant_jobs(tenant)
    hi: str | int = "+inf" if before_ms is None else before_ms
    if created_before_ms is not None and (before_ms is None or created_before_ms - 1 < before_ms):
        hi = created_before_ms - 1  # exclusive
    lo: str | int = "-inf" if created_after_ms is None else f"({created_after_ms}"
    out: list[Job] = []
    offset = 0
    chunk = max(limit * 2, 50)
    while len(out) < limit:
        ids = cast("list[tuple[bytes, float]]",
                   r.zrevrangebyscore(index, hi, lo, start=offset, num=chunk, withscores=True))
        if not ids:
            break
        offset += len(ids)
        pipe = r.pipeline(transaction=False)
        for member, _ in ids:
            pipe.hgetall(keyspace.job(as_str(member)))
        for (member, score), raw in zip(ids, pipe.execute(), strict=True):
            mid = as_str(member)
            if before_ms is not None and int(score) == before_ms and before_id is not None and mid >= before_id:
                continue  # already on an earlier page
            if not raw:
                r.zrem(index, mid)  # the record expired; drop it from the index
                continue
            job = decode_job(raw)
            if not where.matches(job):
                continue
            out.append(job)
            if len(out) == limit:
                break
    return out
