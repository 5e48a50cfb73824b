"""Tenants: their API keys (with scopes) and their own settings. Keys are stored as SHA-256 digests
only; the clear key is shown once.

Keys are long random tokens, so an unsalted fast hash is the right tool: there is nothing to
brute-force, and every request must be authenticated in microseconds.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass

import redis

from shared.infra import keyspace
from shared.infra.redis_client import as_str
from shared.jobs.model import now_ms

_TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

# What a key may do: submit jobs and batches (scanners), review jobs (reviewers), administer the tenant
# (webhooks, review settings, training export). A key stored before scopes existed has all three.
SCOPES = ("submit", "review", "admin")


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    name: str
    created_at: int
    revoked: bool = False
    scopes: tuple[str, ...] = SCOPES

    def __post_init__(self) -> None:
        object.__setattr__(self, "scopes", tuple(s for s in SCOPES if s in (self.scopes or ())))

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def valid_tenant(name: str) -> bool:
    return bool(_TENANT_RE.match(name))


class KeyStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def create(self, tenant: str, name: str = "", scopes: tuple[str, ...] | list[str] | None = None
               ) -> tuple[str, ApiKey]:
        if not valid_tenant(tenant):
            raise ValueError("tenant must be 1-63 of a-z, 0-9, '-', '_' and start with a letter or digit")
        unknown = [s for s in scopes or () if s not in SCOPES]
        if unknown or (scopes is not None and not scopes):
            raise ValueError(f"scopes must be some of: {', '.join(SCOPES)} (got {', '.join(unknown) or 'none'})")
        clear = "ocrq_" + secrets.token_urlsafe(32)
        key = ApiKey(id="key_" + secrets.token_hex(8), tenant=tenant, name=name, created_at=now_ms(),
                     scopes=tuple(scopes) if scopes else SCOPES)
        pipe = self.r.pipeline(transaction=True)
        pipe.set(keyspace.api_key(digest(clear)), json.dumps(asdict(key)))
        pipe.hset(keyspace.API_KEYS, key.id, digest(clear))
        pipe.sadd(keyspace.TENANTS, tenant)
        pipe.execute()
        return clear, key

    def authenticate(self, clear: str) -> ApiKey | None:
        raw = self.r.get(keyspace.api_key(digest(clear)))
        if raw is None:
            return None
        key = ApiKey(**json.loads(raw))
        return None if key.revoked else key

    def list(self) -> list[ApiKey]:
        out = []
        for _, d in sorted(self.r.hgetall(keyspace.API_KEYS).items()):
            raw = self.r.get(keyspace.api_key(as_str(d)))
            if raw:
                out.append(ApiKey(**json.loads(raw)))
        return sorted(out, key=lambda k: k.created_at)

    def revoke(self, key_id: str) -> bool:
        d = self.r.hget(keyspace.API_KEYS, key_id)
        if d is None:
            return False
        name = keyspace.api_key(as_str(d))
        raw = self.r.get(name)
        if raw is None:
            return False
        data = json.loads(raw)
        data["revoked"] = True
        self.r.set(name, json.dumps(data))
        return True

    # buckets a tenant may point jobs and batches at (besides ocrq's own inputs)
    def allow_bucket(self, tenant: str, bucket: str) -> None:
        self.r.sadd(keyspace.tenant_buckets(tenant), bucket)

    def allowed_buckets(self, tenant: str) -> set[str]:
        return {as_str(b) for b in self.r.smembers(keyspace.tenant_buckets(tenant))}


class TenantSettings:
    """A tenant's own defaults, one Redis hash per tenant. Today the review confidence floor
    (`review_below`, PUT /v1/reviews/settings); a per-tenant quota or default belongs here too."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def review_below(self, tenant: str) -> float | None:
        raw = self.r.hget(keyspace.tenant_settings(tenant), "review_below")
        return float(raw) if raw is not None else None

    def set_review_below(self, tenant: str, floor: float | None) -> None:
        if floor is None:
            self.r.hdel(keyspace.tenant_settings(tenant), "review_below")
        else:
            self.r.hset(keyspace.tenant_settings(tenant), "review_below", repr(float(floor)))
