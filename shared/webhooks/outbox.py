"""The webhook outbox in Redis: events, their deliveries, the due set and the attempt log.

An event is written here (durably: Redis with AOF) before anyone tries to deliver it, and every
delivery is driven from the ``due`` sorted set, never from a message alone. A lost Celery
message, a killed webhook worker or a restarted Redis therefore delays a webhook but never
loses it: whatever is in ``due`` comes due again and the scheduler loop sends it.

Keys (declared in shared/infra/keyspace.py, prefix ``ocrq:wh:``):
  evt:<msg>           hash: id, tenant, type, subject, sequence, created_at, body (the exact bytes sent)
  events:<tenant>     zset: msg ids by created_at (replay ?since=)
  subj:<subject>      set: msg ids of one job (or batch)
  dlv:<msg>:<ep>      hash: one delivery of one event to one endpoint (status, attempts, next try)
  dlvs:<msg>          set: endpoint ids the event goes to
  due                 zset: "<msg>|<ep>" by the epoch ms it is due (or a claim token, see below)
  log:<subject>       list: JSON attempt records (time, status code, latency, error)
  seq:<tenant>        counter: the payload's ``sequence``

Claims: whoever sends a delivery on its way first moves its ``due`` score to a *token*, a time a
lease length in the future, and the Celery message carries that token. ``start`` and ``finish``
compare-and-set on it, so a duplicate or late message is a no-op, and if the worker dies the
score simply comes due again when the lease runs out.

The ``webhook-id`` is derived from (subject, event type), so re-running the finished hook, a
retry or a replay can never mint a second id for the same event.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import redis

from shared.infra import keyspace
from shared.infra.redis_client import as_str
from shared.infra.settings import Settings
from shared.jobs.model import iso_ms, now_ms
from shared.webhooks.endpoints import JOB_TARGET, EndpointStore

log = logging.getLogger("ocrq.webhooks")

DUE = keyspace.WEBHOOK_DUE
LOG_MAX = 1000  # attempt records kept per job

# KEYS: evt, events:<tenant>, subj:<subject>, seq:<tenant>
# ARGV: msg id, tenant, type, subject, created_at ms, body with the placeholder, ttl s
# Returns the sequence of a new event, or 0 when the event already existed.
_CREATE_EVENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local seq = redis.call('INCR', KEYS[4])
local body = ARGV[6]
local i, j = string.find(body, '"sequence":-1', 1, true)
body = string.sub(body, 1, i - 1) .. '"sequence":' .. seq .. string.sub(body, j + 1)
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'tenant', ARGV[2], 'type', ARGV[3], 'subject', ARGV[4],
           'created_at', ARGV[5], 'sequence', seq, 'body', body)
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[7])
return seq
"""

# KEYS: dlv, dlvs:<msg>, due.  ARGV: msg, ep, url, now ms, due score, ttl s, member, "1" to reset
# Creates the delivery (or, with reset, puts an existing one back to pending for a new round).
# Returns 1 when it was created or reset, 0 when it already existed.
_ENSURE_DELIVERY = """
if ARGV[8] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'msg', ARGV[1], 'ep', ARGV[2], 'created_at', ARGV[4], 'attempts', '0')
end
redis.call('HSET', KEYS[1], 'url', ARGV[3], 'status', 'pending', 'round_attempts', '0',
           'round_started_at', '', 'next_attempt_at', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[7])
return 1
"""

# KEYS: due.  ARGV: now ms, lease ms, limit.  Claims due members: returns member, token, ...
_CLAIM_DUE = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i, m in ipairs(items) do
  local token = tonumber(ARGV[1]) + tonumber(ARGV[2]) + i
  redis.call('ZADD', KEYS[1], token, m)
  out[#out + 1] = m
  out[#out + 1] = token
end
return out
"""

# KEYS: due.  ARGV: member, expected token, new score ("" = remove).  CAS on the claim token.
_SWAP = """
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) else redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) end
return 1
"""


def msg_id_for(subject: str, event_type: str) -> str:
    """The deterministic ``webhook-id`` of one event about one job (or batch)."""
    return "msg_" + hashlib.sha256(f"{subject}\n{event_type}".encode()).hexdigest()[:32]


def member(msg_id: str, ep_id: str) -> str:
    return f"{msg_id}|{ep_id}"


def split_member(m: str) -> tuple[str, str]:
    msg_id, _, ep_id = m.partition("|")
    return msg_id, ep_id


def attempt_lease_ms(settings: Settings) -> int:
    """How long a claim holds: an attempt is bounded by the timeout, so twice that plus slack."""
    return int((2 * settings.webhook_timeout_s + 5) * 1000)


@dataclass
class Event:
    id: str
    tenant: str
    type: str
    subject: str
    sequence: int
    created_at: int
    body: bytes


class Outbox:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.r = client
        self.settings = settings
        self.ttl_s = settings.retention_s + 4 * 24 * 3600  # outlives the 3-day retry window
        self.endpoints = EndpointStore(client)
        self._create = client.register_script(_CREATE_EVENT)
        self._ensure = client.register_script(_ENSURE_DELIVERY)
        self._claim = client.register_script(_CLAIM_DUE)
        self._swap = client.register_script(_SWAP)

    # keys ----------------------------------------------------------------------
    evt_key = staticmethod(keyspace.webhook_event)
    dlv_key = staticmethod(keyspace.webhook_delivery)
    log_key = staticmethod(keyspace.webhook_log)

    # events --------------------------------------------------------------------
    def emit(self, tenant: str, event_type: str, subject: str, timestamp_ms: int, data: dict[str, Any],
             *, job_webhook_url: str | None = None, claim: bool = False) -> tuple[str, list[tuple[str, int]]]:
        """Write the event and its deliveries; returns (msg id, [(member, token)] claimed).

        claim=False: the deliveries are due now and the webhook worker's scheduler loop sends them
        within a tick. claim=True: they are claimed for the caller, who must send the messages
        (``send_claimed``) -- or they go when the claim's lease runs out.
        Idempotent: a second call for the same subject and type changes nothing and claims nothing.
        """
        msg_id = msg_id_for(subject, event_type)
        body = json.dumps({"type": event_type, "timestamp": iso_ms(timestamp_ms), "sequence": -1, "data": data},
                          separators=(",", ":"), default=str)
        self._create(keys=[self.evt_key(msg_id), keyspace.webhook_events(tenant), keyspace.webhook_subject(subject),
                           keyspace.webhook_sequence(tenant)],
                     args=[msg_id, tenant, event_type, subject, now_ms(), body, self.ttl_s])
        targets: list[tuple[str, str, str | None]] = []  # (endpoint id, url, why it is skipped)
        if job_webhook_url and event_type.startswith("job."):
            self.endpoints.ensure_default_secret(tenant)
            targets.append((JOB_TARGET, job_webhook_url, None))
        for ep in self.endpoints.list(tenant):
            if ep.wants(event_type):
                targets.append((ep.id, ep.url, f"endpoint is disabled: {ep.disabled_reason}" if ep.disabled else None))
        claimed = []
        for ep_id, url, skip in targets:
            token = now_ms() + (attempt_lease_ms(self.settings) if claim and not skip else 0)
            if not self._ensure_delivery(msg_id, ep_id, url, token, reset=False):
                continue
            if skip:
                # Recorded, not sent: a replay after the receiver is fixed sends it.
                self.swap(member(msg_id, ep_id), token, None)
                self.update_delivery(msg_id, ep_id, status="skipped", last_error=skip)
            elif claim:
                claimed.append((member(msg_id, ep_id), token))
        return msg_id, claimed

    def _ensure_delivery(self, msg_id: str, ep_id: str, url: str, score: int, *, reset: bool) -> bool:
        return bool(self._ensure(keys=[self.dlv_key(msg_id, ep_id), keyspace.webhook_deliveries(msg_id), DUE],
                                 args=[msg_id, ep_id, url, now_ms(), score, self.ttl_s, member(msg_id, ep_id),
                                       "1" if reset else "0"]))

    def requeue(self, msg_id: str, ep_id: str, url: str) -> None:
        """Send an event (again) to one endpoint as a fresh round of the schedule: replays."""
        self._ensure_delivery(msg_id, ep_id, url, now_ms(), reset=True)

    def event(self, msg_id: str) -> Event | None:
        raw = {as_str(k): v for k, v in self.r.hgetall(self.evt_key(msg_id)).items()}
        if not raw:
            return None
        return Event(
            id=as_str(raw["id"]),
            tenant=as_str(raw["tenant"]),
            type=as_str(raw["type"]),
            subject=as_str(raw["subject"]),
            sequence=int(raw["sequence"]),
            created_at=int(raw["created_at"]),
            body=raw["body"] if isinstance(raw["body"], bytes) else str(raw["body"]).encode(),
        )

    def events_of(self, subject: str) -> list[Event]:
        ids = [as_str(m) for m in self.r.smembers(keyspace.webhook_subject(subject))]
        events = [e for e in (self.event(i) for i in ids) if e is not None]
        return sorted(events, key=lambda e: (e.sequence, e.id))

    def events_since(self, tenant: str, since_ms: int, limit: int = 10_000) -> list[Event]:
        ids = [
            as_str(m)
            for m in self.r.zrangebyscore(keyspace.webhook_events(tenant), since_ms, "+inf", start=0, num=limit)
        ]
        out = []
        for i in ids:
            e = self.event(i)
            if e is None:
                self.r.zrem(keyspace.webhook_events(tenant), i)  # expired
                continue
            out.append(e)
        return out

    # deliveries ------------------------------------------------------------------
    def delivery(self, msg_id: str, ep_id: str) -> dict[str, str]:
        return {as_str(k): as_str(v) for k, v in self.r.hgetall(self.dlv_key(msg_id, ep_id)).items()}

    def deliveries_of(self, msg_id: str) -> list[dict[str, str]]:
        eps = sorted(as_str(m) for m in self.r.smembers(keyspace.webhook_deliveries(msg_id)))
        return [d for d in (self.delivery(msg_id, ep) for ep in eps) if d]

    def update_delivery(self, msg_id: str, ep_id: str, **fields: Any) -> None:
        key = self.dlv_key(msg_id, ep_id)
        if self.r.exists(key):
            self.r.hset(key, mapping={k: "" if v is None else str(v) for k, v in fields.items()})

    def due_score(self, msg_id: str, ep_id: str) -> float | None:
        return self.r.zscore(DUE, member(msg_id, ep_id))

    # the due set -------------------------------------------------------------------
    def claim_due(self, limit: int, now: int | None = None) -> list[tuple[str, int]]:
        res = self._claim(keys=[DUE], args=[now or now_ms(), attempt_lease_ms(self.settings), limit])
        return [(as_str(res[i]), int(res[i + 1])) for i in range(0, len(res), 2)]

    def swap(self, m: str, token: int, new_score: int | None) -> bool:
        """Compare-and-set the claim: move it to new_score (None: remove) if it still holds token."""
        return bool(self._swap(keys=[DUE], args=[m, token, "" if new_score is None else new_score]))

    # expiry --------------------------------------------------------------------------
    def forget_delivered(self, tenant: str, subject: str, now: int | None = None) -> bool:
        """The job expiry sweep's part (workers/reaper.py): delete a job's events, their deliveries
        and its attempt log once every delivery is ``delivered`` or ``canceled`` (its endpoint was
        deleted): nothing is left to send, and the result they carry is past its retention. An event
        with a pending, failed or skipped delivery stays for its TTL, so a replay can still send it.
        Also drops the tenant's replay-index entries whose events have outlived the TTL (the index
        is a sorted set; its members do not expire with the keys). Returns whether it deleted.
        """
        now = now or now_ms()
        index = keyspace.webhook_events(tenant)
        self.r.zremrangebyscore(index, "-inf", now - self.ttl_s * 1000)
        msg_ids = [as_str(m) for m in self.r.smembers(keyspace.webhook_subject(subject))]
        deliveries = []
        for msg_id in msg_ids:
            for ep in self.r.smembers(keyspace.webhook_deliveries(msg_id)):
                ep_id = as_str(ep)
                status = as_str(self.r.hget(self.dlv_key(msg_id, ep_id), "status"))
                if status not in (None, "delivered", "canceled") or self.due_score(msg_id, ep_id) is not None:
                    return False
                deliveries.append(self.dlv_key(msg_id, ep_id))
        pipe = self.r.pipeline(transaction=True)
        for msg_id in msg_ids:
            pipe.delete(self.evt_key(msg_id), keyspace.webhook_deliveries(msg_id))
            pipe.zrem(index, msg_id)
        if deliveries:
            pipe.delete(*deliveries)
        pipe.delete(keyspace.webhook_subject(subject), self.log_key(subject))
        pipe.execute()
        return True

    # attempt log ---------------------------------------------------------------------
    def log_attempt(self, subject: str, record: dict[str, Any]) -> None:
        key = self.log_key(subject)
        pipe = self.r.pipeline(transaction=False)
        pipe.rpush(key, json.dumps(record))
        pipe.ltrim(key, -LOG_MAX, -1)
        pipe.expire(key, self.ttl_s)
        pipe.execute()

    def attempts(self, subject: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self.r.lrange(self.log_key(subject), 0, -1)]
