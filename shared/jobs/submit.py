"""Accepting a job: idempotency, backpressure, storing the record and sending its message.

The gateway validates the request and inspects the image; what happens next is the same for an
upload and for a reference to an object already in a bucket, and lives here:

  claim the Idempotency-Key ─▶ replay the earlier job if the key was used for this request
  ─▶ refuse when the interactive queue is full ─▶ store the input ─▶ create the record
  ─▶ send the message (or leave it on the 'unsent' list for the reaper)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from shared.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidRequest,
    QueueFull,
    StorageUnavailable,
    Unavailable,
)
from shared.infra import keyspace, tracing
from shared.infra.blobs import BlobStoreError
from shared.infra.broker import QUEUE_INTERACTIVE, QueueDepth
from shared.infra.redis_client import ReplicationTimeout, ReplicaWaiter
from shared.infra.settings import Settings
from shared.jobs.model import InputRef, Job, new_job_id, now_ms
from shared.jobs.store import JobStore
from shared.jobs.task_spec import TaskSpec

log = logging.getLogger("ocrq.jobs")

IDEMPOTENCY_TTL_S = 24 * 3600
REPLAY_WAIT_S = 10.0  # how long a retry waits for the first request with its key to store the job
# A reservation whose job record is still missing this long after it was made belongs to a request
# that died (e.g. Redis was killed between the two writes): it is released, not honoured for 24 h.
STALE_RESERVATION_MS = 30_000

# Delete the reservation only if it is still the one we read (another request may have re-claimed).
_RELEASE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

SendJob = Callable[[str, str], None]  # (job_id, queue)


class InvalidIdempotencyKey(InvalidRequest):
    """The Idempotency-Key header is not 1-255 printable characters."""

    code = "invalid_idempotency_key"


class IdempotencyIncomplete(Unavailable):
    """A request with this Idempotency-Key died before storing its job; retry (Retry-After)."""

    code = "idempotent_request_incomplete"


class ReplicasUnavailable(Unavailable):
    """Redis could not confirm the write on its replicas (Retry-After)."""

    code = "replicas_unavailable"
    retry_after_s = 1


@dataclass(frozen=True)
class Draft:
    """A validated request for a job, before anything is stored."""

    tenant: str
    sha256: str
    spec: TaskSpec
    priority: str = QUEUE_INTERACTIVE
    metadata: dict[str, Any] = field(default_factory=dict)
    webhook_url: str | None = None
    pages_total: int | None = None  # documents: pages in the input, and the selected ones
    pages: tuple[int, ...] | None = None
    quality: dict[str, Any] | None = None  # quality=check: the verdict, kept on the job (not fingerprinted)

    def fingerprint(self) -> str:
        parts: list[Any] = [self.sha256, self.spec.model_dump(mode="json"), self.priority, self.metadata,
                            self.webhook_url]
        if self.pages is not None:  # appended only for documents: image fingerprints stay as they were
            parts.append(list(self.pages))
        doc = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(doc.encode()).hexdigest()


@dataclass(frozen=True)
class Submitted:
    job: Job
    replayed: bool  # True: an earlier request with the same Idempotency-Key made this job


def idempotency_name(tenant: str, header: str | None) -> str | None:
    if header is None:
        return None
    if not (1 <= len(header) <= 255) or not header.isprintable():
        raise InvalidIdempotencyKey("Idempotency-Key must be 1-255 printable characters")
    return keyspace.idempotency(tenant, hashlib.sha256(header.encode()).hexdigest())


class Submitter:
    def __init__(self, settings: Settings, client: redis.Redis, store: JobStore, send_job: SendJob,
                 queue_depth: Callable[[str], int | None] | None = None) -> None:
        self.settings = settings
        self.r = client
        self.store = store
        self.send_job = send_job
        self.queue_depth = queue_depth or QueueDepth(settings, client)
        self._release_if = client.register_script(_RELEASE_IF)
        # Every live replica, at least OCRQ_REDIS_MIN_REPLICAS: whichever one Sentinel promotes has the job.
        self.replicas = ReplicaWaiter(client, settings.redis_min_replicas, settings.redis_wait_timeout_ms)

    def submit(self, draft: Draft, *, idempotency_key: str | None,
               store_input: Callable[[], InputRef]) -> Submitted:
        """Accept ``draft`` once. ``store_input`` puts the bytes where the worker reads them and
        returns their reference; it runs only for a request that is neither a replay nor refused."""
        job_id = new_job_id()
        with tracing.span("ocrq.submit", attributes={"ocrq.job_id": job_id, "ocrq.tenant": draft.tenant,
                                                     "ocrq.task": draft.spec.task, "ocrq.priority": draft.priority,
                                                     "ocrq.pages": len(draft.pages or ()) or 1}) as sp:
            sub = self._submit(draft, job_id, idempotency_key, store_input)
            if sub.replayed:
                sp.set_attribute("ocrq.replayed_job_id", sub.job.id)
            return sub

    def _submit(self, draft: Draft, job_id: str, idempotency_key: str | None,
                store_input: Callable[[], InputRef]) -> Submitted:
        name = idempotency_name(draft.tenant, idempotency_key)
        if name is not None:
            prior = self._claim(name, draft.fingerprint(), job_id)
            if prior is not None:
                # A retry of an accepted request is answered even when the queue is full.
                return Submitted(self._replay(name, prior, draft.tenant), replayed=True)
        try:
            self._backpressure(draft.priority)
            try:
                with tracing.span("ocrq.blob.put", attributes={"ocrq.what": "input"}):
                    ref = store_input()
            except BlobStoreError:
                raise StorageUnavailable() from None
        except Exception:
            if name is not None:
                self.r.delete(name)  # nothing was accepted: a retry with this key starts afresh
            raise
        # The job keeps the submit span's context: its worker and webhook spans continue this trace.
        traceparent = tracing.current_traceparent()
        job = Job(id=job_id, tenant=draft.tenant, spec=draft.spec, priority=draft.priority, input=ref,
                  metadata=draft.metadata, webhook_url=draft.webhook_url, pages_total=draft.pages_total,
                  pages=list(draft.pages) if draft.pages is not None else None, quality=draft.quality,
                  traceparent=traceparent, trace_id=tracing.trace_id_of(traceparent))
        with tracing.span("ocrq.enqueue", attributes={"ocrq.job_id": job_id, "messaging.destination.name":
                                                      job.priority}):
            self._enqueue(job)
        return Submitted(job, replayed=False)

    # ---------------------------------------------------------------- steps
    def _claim(self, name: str, fp: str, job_id: str) -> str | None:
        """Reserve the key for job_id (SET NX: one winner however many requests race).

        Returns the id of the earlier job for the same key and request, or None when this request
        is the first. The same key with a different request is a conflict.
        """
        mine = json.dumps({"fp": fp, "job_id": job_id, "at": now_ms()})
        if self.r.set(name, mine, nx=True, ex=IDEMPOTENCY_TTL_S):
            return None
        raw = self.r.get(name)
        if raw is not None and self._stale(raw):
            self._release_if(keys=[name], args=[raw])
            raw = None
        if raw is None:  # the winner gave up (storage error, or died) before storing its job: try once more
            if self.r.set(name, mine, nx=True, ex=IDEMPOTENCY_TTL_S):
                return None
            raw = self.r.get(name) or mine.encode()
        prior = json.loads(raw)
        if prior["fp"] != fp:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used with a different request (image or options)")
        return str(prior["job_id"])

    def _stale(self, raw: bytes | str) -> bool:
        """A reservation old enough that its request is gone, and whose job was never stored."""
        prior = json.loads(raw)
        old = now_ms() - int(prior.get("at", now_ms())) > STALE_RESERVATION_MS
        return old and self.store.status(str(prior["job_id"])) is None

    def _replay(self, name: str, job_id: str, tenant: str) -> Job:
        # The first request with this key may still be storing its job: wait for it briefly.
        deadline = time.monotonic() + REPLAY_WAIT_S
        while time.monotonic() < deadline:
            job = self.store.get_for_tenant(job_id, tenant)
            if job is not None:
                # The first request may have answered 503 because no replica confirmed this record:
                # a replay is an acceptance too, so it waits for the same confirmation.
                self._replicated()
                return job
            if self.r.get(name) is None:
                break  # the first request failed and released the key: this one may simply retry
            time.sleep(0.02)
        raw = self.r.get(name)
        if raw is not None:
            age_ms = now_ms() - int(json.loads(raw).get("at", now_ms()))
            if age_ms >= REPLAY_WAIT_S * 1000:
                # Its request is gone (e.g. the Redis primary died between the reservation and the job
                # record): not a conflict but an outage that clears when the reservation turns stale.
                wait_s = max(1, int((STALE_RESERVATION_MS - age_ms) / 1000) + 1)
                raise IdempotencyIncomplete("the first request with this Idempotency-Key did not finish; retry "
                                            f"in {wait_s} s", retry_after_s=wait_s)
        raise IdempotencyInProgress("a request with this Idempotency-Key is still in progress or failed; retry")

    def _backpressure(self, priority: str) -> None:
        if priority != QUEUE_INTERACTIVE:
            return
        depth = self.queue_depth(QUEUE_INTERACTIVE)
        if depth is not None and depth >= self.settings.interactive_queue_max:
            raise QueueFull(f"{depth} interactive jobs are waiting; retry shortly")

    def _replicated(self) -> None:
        """Return once every write so far is on every live replica (at least OCRQ_REDIS_MIN_REPLICAS),
        else raise ReplicasUnavailable (503): a failover must not lose what a 202 or 200 accepted."""
        if self.replicas.floor <= 0:
            return
        try:
            self.replicas.wait()
        except ReplicationTimeout as err:
            # The record may still survive; a retry with the same Idempotency-Key finds it (and waits again).
            raise ReplicasUnavailable(str(err)) from None

    def _enqueue(self, job: Job) -> None:
        self.store.create(job)
        self._replicated()
        try:
            self.send_job(job.id, job.priority)
        except Exception:
            # The job is stored and on the 'unsent' list: the reaper will send it. Accepted is accepted.
            log.exception("queue send failed for %s; the reaper will retry", job.id)
            return
        self.store.mark_sent(job.id)
