"""Where a tenant's webhooks go: registered endpoints and the tenant's default signing secret.

Key layout (prefix ``ocrq:wh:``):
  ep:<id>              hash: one registered endpoint (url, events, secrets, disabled state)
  eps:<tenant>         set: the tenant's endpoint ids
  secret:<tenant>      hash: the default secret that signs deliveries to a job's own webhook_url

Secrets: each endpoint has its own ``whsec_`` secret, shown once when it is created. Jobs that
carry a ``webhook_url`` are signed with the tenant's default secret, created on first use (the
first submit with a webhook_url, or the first delivery) and revealed once through the API.
Rotating either keeps the previous secret valid for ``ROTATION_OVERLAP_S``: deliveries are
signed with both, so a receiver can switch over without losing a single webhook.
"""

from __future__ import annotations

import builtins
import json
import secrets as _secrets
from dataclasses import dataclass, field
from typing import Any

import redis

from shared.infra import keyspace
from shared.infra.redis_client import as_str
from shared.jobs.model import now_ms
from shared.webhooks.signing import new_secret

EVENT_TYPES = ("job.succeeded", "job.failed", "job.canceled", "job.reviewed", "batch.completed",
               "batch.item.succeeded", "batch.item.failed")
# What an endpoint registered without `events` gets: not the per-item events of backfills (millions).
# job.reviewed is in: it follows a job.succeeded that said needs_review, one per reviewed job, and carries
# what a person decided (an endpoint registered before it existed keeps the list it was given).
DEFAULT_EVENT_TYPES = ("job.succeeded", "job.failed", "job.canceled", "job.reviewed", "batch.completed")
JOB_TARGET = "job"  # the endpoint id of a job's own webhook_url in the delivery log
MAX_ENDPOINTS_PER_TENANT = 20
ROTATION_OVERLAP_S = 24 * 3600


@dataclass
class Endpoint:
    id: str
    tenant: str
    url: str
    events: list[str]
    secret: str
    description: str = ""
    previous_secret: str | None = None
    previous_until: int | None = None  # epoch ms; the old secret signs too until then
    created_at: int = field(default_factory=now_ms)
    disabled: bool = False
    disabled_reason: str | None = None
    disabled_at: int | None = None

    def wants(self, event_type: str) -> bool:
        return event_type in self.events

    def signing_secrets(self, now: int | None = None) -> list[str]:
        return _active(self.secret, self.previous_secret, self.previous_until, now)


def _active(current: str, previous: str | None, until: int | None, now: int | None = None) -> list[str]:
    out = [current]
    if previous and until and (now or now_ms()) < until:
        out.append(previous)
    return out


class EndpointStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    key = staticmethod(keyspace.webhook_endpoint)
    index = staticmethod(keyspace.webhook_endpoints)
    secret_key = staticmethod(keyspace.webhook_default_secret)

    # endpoints ---------------------------------------------------------------
    def create(self, tenant: str, url: str, events: list[str], description: str = "") -> Endpoint:
        ep = Endpoint(id="ep_" + _secrets.token_urlsafe(12), tenant=tenant, url=url, events=list(events),
                      secret=new_secret(), description=description)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.key(ep.id), mapping=_encode(ep))
        pipe.sadd(self.index(tenant), ep.id)
        pipe.execute()
        return ep

    def count(self, tenant: str) -> int:
        return int(self.r.scard(self.index(tenant)))

    def get(self, ep_id: str) -> Endpoint | None:
        raw = self.r.hgetall(self.key(ep_id))
        return _decode(raw) if raw else None

    def get_for_tenant(self, ep_id: str, tenant: str) -> Endpoint | None:
        ep = self.get(ep_id)
        return ep if ep is not None and ep.tenant == tenant else None

    def list(self, tenant: str) -> list[Endpoint]:
        ids = sorted(as_str(m) or "" for m in self.r.smembers(self.index(tenant)))
        out = []
        for ep_id in ids:
            ep = self.get(ep_id)
            if ep is None:
                self.r.srem(self.index(tenant), ep_id)
                continue
            out.append(ep)
        out.sort(key=lambda e: (e.created_at, e.id))
        return out

    def delete(self, ep: Endpoint) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.key(ep.id))
        pipe.srem(self.index(ep.tenant), ep.id)
        pipe.execute()

    def disable(self, ep_id: str, reason: str) -> None:
        # HSET only if the endpoint still exists: a delete must not be undone by a late attempt.
        if self.r.exists(self.key(ep_id)):
            self.r.hset(self.key(ep_id), mapping={"disabled": "1", "disabled_reason": reason,
                                                  "disabled_at": str(now_ms())})

    def enable(self, ep_id: str) -> None:
        if self.r.exists(self.key(ep_id)):
            self.r.hset(self.key(ep_id), mapping={"disabled": "0", "disabled_reason": "", "disabled_at": ""})

    def rotate(self, ep: Endpoint) -> str:
        fresh = new_secret()
        self.r.hset(self.key(ep.id), mapping={"secret": fresh, "previous_secret": ep.secret,
                                              "previous_until": str(now_ms() + ROTATION_OVERLAP_S * 1000)})
        return fresh

    # the tenant's default secret (a job's own webhook_url) ---------------------
    def ensure_default_secret(self, tenant: str) -> None:
        key = self.secret_key(tenant)
        if not self.r.hexists(key, "secret"):
            # HSETNX: two first uses racing agree on one secret.
            self.r.hsetnx(key, "secret", new_secret())
            self.r.hsetnx(key, "created_at", str(now_ms()))

    def default_secrets(self, tenant: str) -> builtins.list[str]:
        self.ensure_default_secret(tenant)
        raw = {(as_str(k) or ""): as_str(v) for k, v in self.r.hgetall(self.secret_key(tenant)).items()}
        until = raw.get("previous_until")
        return _active(raw["secret"] or "", raw.get("previous_secret"), int(until) if until else None)

    def reveal_default_secret(self, tenant: str) -> str | None:
        """The default secret the first time it is asked for; None on every later call."""
        self.ensure_default_secret(tenant)
        key = self.secret_key(tenant)
        if not self.r.hsetnx(key, "revealed_at", str(now_ms())):
            return None
        return as_str(self.r.hget(key, "secret"))

    def rotate_default_secret(self, tenant: str) -> str:
        self.ensure_default_secret(tenant)
        key = self.secret_key(tenant)
        old = as_str(self.r.hget(key, "secret"))
        fresh = new_secret()
        self.r.hset(key, mapping={"secret": fresh, "previous_secret": old or "",
                                  "previous_until": str(now_ms() + ROTATION_OVERLAP_S * 1000),
                                  "revealed_at": str(now_ms())})
        return fresh


def _encode(ep: Endpoint) -> dict[Any, str]:
    return {
        "id": ep.id, "tenant": ep.tenant, "url": ep.url, "events": json.dumps(ep.events), "secret": ep.secret,
        "description": ep.description, "previous_secret": ep.previous_secret or "",
        "previous_until": str(ep.previous_until or ""), "created_at": str(ep.created_at),
        "disabled": "1" if ep.disabled else "0", "disabled_reason": ep.disabled_reason or "",
        "disabled_at": str(ep.disabled_at or ""),
    }


def _decode(raw: dict[Any, Any]) -> Endpoint:
    d = {(as_str(k) or ""): (as_str(v) or "") for k, v in raw.items()}
    return Endpoint(
        id=d["id"], tenant=d["tenant"], url=d["url"], events=json.loads(d.get("events") or "[]"),
        secret=d["secret"], description=d.get("description", ""),
        previous_secret=d.get("previous_secret") or None,
        previous_until=int(d["previous_until"]) if d.get("previous_until") else None,
        created_at=int(d.get("created_at") or 0), disabled=d.get("disabled") == "1",
        disabled_reason=d.get("disabled_reason") or None,
        disabled_at=int(d["disabled_at"]) if d.get("disabled_at") else None,
    )
