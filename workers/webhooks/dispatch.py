"""One delivery attempt and the scheduler loop that finds due ones. No Celery in here.

Flow of one attempt (``Dispatcher.attempt``):
  1. take the claim: compare-and-set the due score from the message's token to a fresh lease;
     a duplicate, late or superseded message stops here and sends nothing;
  2. load the event and its target (a registered endpoint, or the job's own webhook_url);
  3. check the URL again with the SSRF guard and pin the IP (DNS may have changed since the
     URL was accepted); a refusal is logged as a failed attempt and nothing is connected;
  4. sign (every active secret), POST without following redirects, log the attempt;
  5. 2xx: delivered. 410: endpoint disabled. Otherwise retry per the schedule with jitter,
     honouring Retry-After on 429/503; past the schedule the delivery fails and a registered
     endpoint is disabled with the reason.

Why a due set and a loop rather than Celery countdowns: a countdown message sits unacked in
the worker for hours, and with the Redis transport a message a killed worker held only comes
back after the visibility timeout; the sorted set is plain data that survives worker and Redis
(AOF) restarts, and the loop turns whatever is due into a message again.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from shared.infra import tracing
from shared.infra.redis_client import as_str
from shared.infra.settings import Settings
from shared.jobs import iso_ms, now_ms
from shared.jobs.store import stored_traceparent
from shared.webhooks import signing
from shared.webhooks.endpoints import JOB_TARGET, Endpoint
from shared.webhooks.outbox import Event, Outbox, attempt_lease_ms, split_member
from shared.webhooks.schedule import next_delay
from shared.webhooks.ssrf import (
    Resolver,
    UnsafeUrl,
    check_url,
    parse_allowlist,
    resolver_for,
)
from workers.webhooks import sender

log = logging.getLogger("ocrq.webhooks")

DeliverFn = Callable[..., sender.Attempt]
SendFn = Callable[[str, int], None]  # (member, token): queue one attempt

TICK_S = 0.2  # how often the scheduler looks for due deliveries
CLAIM_BATCH = 100
QUEUE_HIGH_WATER = 500  # leave due deliveries in Redis while this many messages already wait


@dataclass(frozen=True)
class _Claimed:
    """A delivery this attempt holds the lease on, with what the steps after the claim share."""

    m: str
    msg_id: str
    ep_id: str
    lease: int  # the due score while the attempt runs; a different score means the lease was lost
    event: Event
    url: str
    secrets: list[str]
    endpoint: Endpoint | None  # None: the job's own webhook_url
    started: int
    round_started: int
    attempt_no: int  # within the round: the retry schedule counts these
    total_no: int  # over every round


@dataclass
class Dispatcher:
    settings: Settings
    client: redis.Redis
    resolver: Resolver | None = None  # None: the system resolver
    deliver_fn: DeliverFn = sender.deliver
    rng: Any = field(default_factory=random.Random)
    outbox: Outbox = field(init=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.client, self.settings)
        if self.resolver is None:
            self.resolver = resolver_for(self.settings.webhook_dns)

    # one attempt -------------------------------------------------------------------
    def attempt(self, m: str, token: int) -> str:
        """Run the attempt a message for ``m`` with claim ``token`` asks for; returns what happened."""
        lease = now_ms() + attempt_lease_ms(self.settings)
        if not self.outbox.swap(m, token, lease):
            return "stale"  # someone else holds (or finished) this delivery
        claimed = self._load(m, lease)
        if isinstance(claimed, str):
            return claimed
        result = self._send(claimed)
        status, next_at = self._outcome(claimed, result)
        return self._record(claimed, result, status, next_at)

    def _load(self, m: str, lease: int) -> _Claimed | str:
        """The event, its delivery and target; or, when there is nothing to send, the claim released
        and what happened (the event expired, the endpoint was deleted or is disabled)."""
        ob = self.outbox
        msg_id, ep_id = split_member(m)
        event = ob.event(msg_id)
        dlv = ob.delivery(msg_id, ep_id)
        if event is None or not dlv:
            ob.swap(m, lease, None)
            return "expired"
        endpoint: Endpoint | None = None
        if ep_id == JOB_TARGET:
            url, secrets = dlv.get("url", ""), ob.endpoints.default_secrets(event.tenant)
        else:
            endpoint = ob.endpoints.get(ep_id)
            if endpoint is None:
                ob.swap(m, lease, None)
                ob.update_delivery(msg_id, ep_id, status="canceled", last_error="endpoint was deleted")
                return "canceled"
            if endpoint.disabled:
                ob.swap(m, lease, None)
                ob.update_delivery(msg_id, ep_id, status="skipped",
                                   last_error=f"endpoint is disabled: {endpoint.disabled_reason}")
                return "skipped"
            url, secrets = endpoint.url, endpoint.signing_secrets()
        started = now_ms()
        return _Claimed(
            m=m, msg_id=msg_id, ep_id=ep_id, lease=lease, event=event, url=url, secrets=secrets,
            endpoint=endpoint, started=started, round_started=int(dlv.get("round_started_at") or 0) or started,
            attempt_no=int(dlv.get("round_attempts") or 0) + 1, total_no=int(dlv.get("attempts") or 0) + 1,
        )

    def _send(self, c: _Claimed) -> sender.Attempt:
        """Check the URL again (DNS may have changed since it was accepted), sign and POST to the
        pinned IP; a URL the SSRF guard refuses is a failed attempt that connects nowhere."""
        # One span per attempt, in the trace of the job the event is about (tracing on only).
        traceparent = stored_traceparent(self.client, c.event.subject) if tracing.active() else None
        with tracing.job_span("ocrq.webhook.attempt", traceparent, kind="client", attributes={
                "ocrq.webhook_id": c.msg_id, "ocrq.event_type": c.event.type, "ocrq.endpoint_id": c.ep_id,
                "ocrq.attempt": c.total_no, "ocrq.job_id": c.event.subject}) as span:
            try:
                target = check_url(c.url, allow_http=self.settings.webhook_allow_http,
                                   allow_cidrs=parse_allowlist(self.settings.webhook_allow_private),
                                   resolver=self.resolver)
            except UnsafeUrl as err:
                result = sender.Attempt(None, 0.0, f"refused by the SSRF guard: {err.reason}", None, "")
            else:
                hdrs = signing.headers(c.msg_id, int(c.started / 1000), c.event.body, c.secrets)
                tracing.inject(hdrs)  # the receiver may continue the job's trace (traceparent; not signed)
                result = self.deliver_fn(target, hdrs, c.event.body, self.settings.webhook_timeout_s)
            span.set_attribute("http.response.status_code", result.status_code or 0)
            if result.error:
                span.set_attribute("error.type", result.error[:200])
        return result

    def _outcome(self, c: _Claimed, result: sender.Attempt) -> tuple[str, int | None]:
        """The delivery's status after this attempt and when the next one is due (None: no next).
        A 410, or a round past the schedule, fails it and disables a registered endpoint."""
        outcome = sender.classify(result)
        if outcome == "disable":
            if c.endpoint is not None:
                self.outbox.endpoints.disable(c.ep_id, f"receiver answered 410 Gone at {iso_ms(now_ms())}")
            return "failed", None
        if outcome != "retry":
            return "delivered", None
        delay = next_delay(c.attempt_no, self.settings.webhook_schedule, result.retry_after_s, self.rng,
                           elapsed_s=(now_ms() - c.round_started) / 1000)
        if delay is None:
            if c.endpoint is not None:
                self.outbox.endpoints.disable(c.ep_id, f"failing since {iso_ms(c.round_started)}: "
                                                       f"{c.attempt_no} attempts, last: {_describe(result)}")
            return "failed", None
        return "pending", now_ms() + int(delay * 1000)

    def _record(self, c: _Claimed, result: sender.Attempt, status: str, next_at: int | None) -> str:
        """Log the attempt; then, while the lease is still ours, store the delivery's state and move
        its due score (release it, or set it to the next attempt)."""
        ob = self.outbox
        ob.log_attempt(c.event.subject, {
            "webhook_id": c.msg_id, "type": c.event.type, "endpoint_id": c.ep_id, "url": c.url,
            "attempt": c.total_no, "at": iso_ms(c.started), "status_code": result.status_code,
            "latency_ms": round(result.latency_ms, 1), "error": result.error, "outcome": status,
            "next_attempt_at": iso_ms(next_at), "response": result.response_excerpt[:200],
        })
        if ob.due_score(c.msg_id, c.ep_id) != c.lease:
            # Our lease ran out and another attempt took over: it owns the state from here.
            return f"{status} (lease lost)"
        # State first, then the due score: the next attempt must see this one counted.
        ob.update_delivery(
            c.msg_id, c.ep_id, status=status, attempts=c.total_no, round_attempts=c.attempt_no,
            round_started_at=c.round_started, next_attempt_at=next_at, last_status_code=result.status_code,
            last_error=result.error, last_attempt_at=c.started,
            delivered_at=now_ms() if status == "delivered" else None,
        )
        ob.swap(c.m, c.lease, next_at)
        return status

    def traceparent(self, m: str) -> str | None:
        """The stored traceparent of the job a delivery's event is about (None for a batch's, or
        when tracing was off at its submit)."""
        subject = self.client.hget(self.outbox.evt_key(split_member(m)[0]), "subject")
        return stored_traceparent(self.client, as_str(subject)) if subject else None

    # the scheduler loop -------------------------------------------------------------
    def dispatch_due(self, send: SendFn, queue_depth: Callable[[], int] | None = None) -> int:
        """Claim what is due and send one message per delivery; returns how many were sent."""
        if queue_depth is not None and queue_depth() >= QUEUE_HIGH_WATER:
            return 0
        claimed = self.outbox.claim_due(CLAIM_BATCH)
        for m, token in claimed:
            send(m, token)
        return len(claimed)

    def run_scheduler(self, stop: threading.Event, send: SendFn, queue_depth: Callable[[], int] | None = None) -> None:
        while not stop.is_set():
            try:
                sent = self.dispatch_due(send, queue_depth)
            except Exception as err:  # Redis restarting, broker down: try again shortly
                log.warning("webhook scheduler: %s", err)
                stop.wait(1.0)
                continue
            if sent < CLAIM_BATCH:
                stop.wait(TICK_S)


def _describe(a: sender.Attempt) -> str:
    if a.status_code is not None:
        return f"HTTP {a.status_code}" + (f" ({a.error})" if a.error else "")
    return a.error or "no response"
