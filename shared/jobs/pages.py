"""A document job's pages as units of work that any worker may run, each by compare-and-set.

A PDF or multi-page TIFF job fans out: the worker that claims the job records one entry per
selected page in the hash ``job:<id>:pages`` and sends one page message per page on the job's own
lane; from then on the job's ``worker`` is :data:`PAGES_OWNER` and no single worker holds it.

    page:  queued ──▶ running ──▶ done (with a result key, or with an error)
                        │  ▲
                        └──┘ taken over when its lease expired or its worker died (attempt + 1)

Every page change is one Lua script that also reads the job, so
- a page of a canceled or failed job is never started (cancel stops the pages not yet started);
- a page reaches ``done`` once: the job's ``progress.pages_done`` counts each page exactly once,
  and the worker whose page made it complete assembles the result (a job CAS: once);
- page activity pushes the job's lease on, so the reaper's usual expired-lease pass re-sends the
  job message only when no page moved for a whole lease; the runner then re-sends page messages
  that look lost (:meth:`PageStore.fan_out` again), or assembles a job whose last page's worker
  died between the page and the job.
- the attempt cap counts per page: a page that crashed its workers ``max_attempts`` times is done
  with the error ``attempts_exhausted``, and the other pages go on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import redis

from shared.infra import keyspace
from shared.infra.blobs import BlobStore
from shared.jobs.model import Status

# The job's `worker` while its pages are out: no single worker holds the job then.
PAGES_OWNER = "pages"
_OWNER_JSON = json.dumps(PAGES_OWNER)

# Shared Lua: extend the job's lease (hash field and running zset) to at least ARGV lease.
_PUSH_JOB_LEASE = """
local function push_job_lease(job_key, running_key, job_id, lease)
  local cur = tonumber(redis.call('HGET', job_key, 'lease_until') or '0') or 0
  if lease > cur then
    redis.call('HSET', job_key, 'lease_until', tostring(lease))
    redis.call('ZADD', running_key, lease, job_id)
  end
end
local function job_id_of(job_key) return cjson.decode(redis.call('HGET', job_key, 'id')) end
"""

# KEYS[1] job, KEYS[2] pages, KEYS[3] running zset
# ARGV[1] JSON worker that claimed the job, ARGV[2] JSON PAGES_OWNER, ARGV[3] now ms,
# ARGV[4] job lease until ms, ARGV[5] re-send queued pages last sent before this (ms),
# ARGV[6] JSON list of the selected pages, ARGV[7] TTL of the pages hash (s)
# Returns {1, pages_done, pages_total, page to send, ...} or {0, current status}, {-1} missing.
_FAN_OUT = _PUSH_JOB_LEASE + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {-1} end
status = cjson.decode(status)
if status ~= 'running' then return {0, status} end
local w = redis.call('HGET', KEYS[1], 'worker')
if w ~= ARGV[1] and w ~= ARGV[2] then return {0, status} end
local now = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'worker', ARGV[2])
local selected = cjson.decode(ARGV[6])
local send = {}
local done = 0
for _, n in ipairs(selected) do
  local raw = redis.call('HGET', KEYS[2], tostring(n))
  if not raw then
    redis.call('HSET', KEYS[2], tostring(n), cjson.encode({state='queued', attempts=0, sent_at=0}))
    table.insert(send, n)
  else
    local p = cjson.decode(raw)
    local lost = (p.state == 'queued' and p.sent_at < tonumber(ARGV[5]))
      or (p.state == 'running' and p.lease_until < now)
    if p.state == 'done' then
      done = done + 1
    elseif lost then
      table.insert(send, n)
    end
  end
end
if not redis.call('HGET', KEYS[1], 'progress') or redis.call('HGET', KEYS[1], 'progress') == 'null' then
  redis.call('HSET', KEYS[1], 'progress', cjson.encode({pages_done=done, pages_total=#selected}))
  redis.call('HSET', KEYS[1], 'pages_failed', '0')
end
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[7]))
push_job_lease(KEYS[1], KEYS[3], job_id_of(KEYS[1]), tonumber(ARGV[4]))
local out = {1, done, #selected}
for _, n in ipairs(send) do table.insert(out, n) end
return out
"""

# Marks one page done (result key or error) and counts it on the job; used by _CLAIM and _DONE.
_FINISH_PAGE = """
local function finish_page(n, p, result_key, err)
  p.state = 'done'
  p.worker = nil
  p.lease_until = nil
  p.result_key = result_key
  p.error = err
  redis.call('HSET', KEYS[2], n, cjson.encode(p))
  local progress = cjson.decode(redis.call('HGET', KEYS[1], 'progress'))
  progress.pages_done = progress.pages_done + 1
  redis.call('HSET', KEYS[1], 'progress', cjson.encode(progress))
  local failed = 0
  local rawf = redis.call('HGET', KEYS[1], 'pages_failed')
  if rawf and rawf ~= 'null' then failed = tonumber(rawf) end
  if err then
    failed = failed + 1
    redis.call('HSET', KEYS[1], 'pages_failed', tostring(failed))
  end
  return {progress.pages_done, progress.pages_total, failed}
end
"""

# KEYS[1] job, KEYS[2] pages, KEYS[3] running zset
# ARGV[1] page, ARGV[2] worker (plain), ARGV[3] now ms, ARGV[4] lease until ms, ARGV[5] max attempts,
# ARGV[6] the dead owner the caller saw ("" = none), ARGV[7] JSON PAGES_OWNER, ARGV[8] JSON error
# for a page past the attempt cap.
# Returns {1, attempt} to run it, {2, done, total, failed} when it hit the cap (now done with an
# error), {0, why[, lease_until]} when it must not run, {-1} when the job is gone.
_CLAIM = _PUSH_JOB_LEASE + _FINISH_PAGE + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {-1} end
status = cjson.decode(status)
if status ~= 'running' or redis.call('HGET', KEYS[1], 'worker') ~= ARGV[7] then return {0, 'stopped'} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {0, 'unknown'} end
local p = cjson.decode(raw)
local now = tonumber(ARGV[3])
if p.state == 'done' then return {0, 'done'} end
if p.state == 'running' and p.lease_until >= now and (ARGV[6] == '' or p.worker ~= ARGV[6]) then
  return {0, 'held', tostring(p.lease_until)}
end
if p.attempts >= tonumber(ARGV[5]) then
  local r = finish_page(ARGV[1], p, nil, cjson.decode(ARGV[8]))
  return {2, r[1], r[2], r[3]}
end
p.state = 'running'
p.worker = ARGV[2]
p.lease_until = tonumber(ARGV[4])
p.attempts = p.attempts + 1
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(p))
push_job_lease(KEYS[1], KEYS[3], job_id_of(KEYS[1]), tonumber(ARGV[4]))
return {1, p.attempts}
"""

# KEYS[1] pages; ARGV[1] now ms, ARGV[2..] pages whose message went out: sent_at of those still queued.
_MARK_SENT = """
for i = 2, #ARGV do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local p = cjson.decode(raw)
    if p.state == 'queued' then
      p.sent_at = tonumber(ARGV[1])
      redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(p))
    end
  end
end
return 1
"""

# KEYS as above; ARGV[1] page, ARGV[2] worker, ARGV[3] lease until ms. 1 when still ours.
_HEARTBEAT = _PUSH_JOB_LEASE + """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local p = cjson.decode(raw)
if p.state ~= 'running' or p.worker ~= ARGV[2] then return 0 end
p.lease_until = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(p))
if cjson.decode(redis.call('HGET', KEYS[1], 'status') or '"gone"') == 'running' then
  push_job_lease(KEYS[1], KEYS[3], job_id_of(KEYS[1]), tonumber(ARGV[3]))
end
return 1
"""

# KEYS as above; ARGV[1] page, ARGV[2] worker, ARGV[3] lease until ms, ARGV[4] result key ("" none),
# ARGV[5] JSON error (or "null"), ARGV[6] JSON PAGES_OWNER, ARGV[7] "1" to give the page back
# instead (queued again, the attempt refunded: storage was down).
# Returns {1, done, total, failed}, {3} given back, {0, why} when the page or job is no longer ours.
_DONE = _PUSH_JOB_LEASE + _FINISH_PAGE + """
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {0, 'unknown'} end
local p = cjson.decode(raw)
if p.state ~= 'running' or p.worker ~= ARGV[2] then return {0, 'lost'} end
local status = cjson.decode(redis.call('HGET', KEYS[1], 'status') or '"gone"')
local ours = status == 'running' and redis.call('HGET', KEYS[1], 'worker') == ARGV[6]
if ARGV[7] == '1' then
  p.state = 'queued'
  p.worker = nil
  p.lease_until = nil
  p.attempts = math.max(0, p.attempts - 1)
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(p))
  return {3}
end
local key = nil
if ARGV[4] ~= '' then key = ARGV[4] end
local err = cjson.decode(ARGV[5])
if err == cjson.null then err = nil end
if not ours then
  p.state = 'done'
  p.worker = nil
  p.result_key = key
  p.error = err
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(p))
  return {0, 'stopped'}
end
local r = finish_page(ARGV[1], p, key, err)
push_job_lease(KEYS[1], KEYS[3], job_id_of(KEYS[1]), tonumber(ARGV[3]))
return {1, r[1], r[2], r[3]}
"""


@dataclass(frozen=True)
class Page:
    """One page's work as recorded: state queued | running | done."""

    number: int
    state: str
    attempts: int = 0
    worker: str | None = None
    lease_until: int | None = None
    result_key: str | None = None
    error: dict[str, str] | None = None


@dataclass(frozen=True)
class FanOut:
    applied: bool
    pages_done: int = 0
    pages_total: int = 0
    to_send: tuple[int, ...] = ()
    status: Status | None = None  # the job's status when not applied (None: no such job)

    @property
    def complete(self) -> bool:
        return self.applied and self.pages_total > 0 and self.pages_done == self.pages_total


@dataclass(frozen=True)
class PageClaim:
    run: bool  # this worker runs the page now
    why: str = ""  # when not: done | held | stopped | unknown | gone | exhausted
    attempt: int = 0
    held_until: int | None = None  # lease of the worker holding it ("held")
    counted: tuple[int, int, int] | None = None  # (done, total, failed) when the cap finished it


@dataclass(frozen=True)
class PageDone:
    counted: bool  # the page was counted on the job now
    pages_done: int = 0
    pages_total: int = 0
    pages_failed: int = 0
    why: str = ""

    @property
    def complete(self) -> bool:
        return self.counted and self.pages_done == self.pages_total


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class PageStore:
    """The page work of document jobs (keys: keyspace.job_pages); the job record itself is JobStore's."""

    def __init__(self, client: redis.Redis, retention_s: int) -> None:
        self.r = client
        self.ttl_s = retention_s + 24 * 3600
        self._fan_out = client.register_script(_FAN_OUT)
        self._claim = client.register_script(_CLAIM)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._done = client.register_script(_DONE)
        self._mark_sent = client.register_script(_MARK_SENT)

    @staticmethod
    def _keys(job_id: str) -> list[str]:
        return [keyspace.job(job_id), keyspace.job_pages(job_id), keyspace.JOBS_RUNNING]

    def fan_out(
        self, job_id: str, claimed_by: str, selected: list[int], *, now: int, lease_until: int, resend_before: int
    ) -> FanOut:
        """Record the pages (once) and hand the job to its pages; which page messages to send.

        New pages are to be sent; run again on a fanned-out job, it names only what looks lost:
        queued pages never marked sent or last sent before ``resend_before``, running pages whose
        lease expired. The caller sends them, then :meth:`mark_sent`."""
        res = self._fan_out(
            keys=self._keys(job_id),
            args=[json.dumps(claimed_by), _OWNER_JSON, now, lease_until, resend_before, json.dumps(selected),
                  self.ttl_s],
        )
        if res[0] == -1:
            return FanOut(False)
        if res[0] == 0:
            return FanOut(False, status=Status(_text(res[1])))
        return FanOut(True, int(res[1]), int(res[2]), tuple(int(n) for n in res[3:]))

    def mark_sent(self, job_id: str, pages: list[int], now: int) -> None:
        """The messages for these pages went out; a page never marked is sent again by the next fan-out."""
        if pages:
            self._mark_sent(keys=[keyspace.job_pages(job_id)], args=[now, *pages])

    def get(self, job_id: str, number: int) -> Page | None:
        raw = self.r.hget(keyspace.job_pages(job_id), str(number))
        return _page(number, raw) if raw else None

    def all(self, job_id: str) -> list[Page]:
        raw = self.r.hgetall(keyspace.job_pages(job_id))
        return sorted((_page(int(_text(k)), v) for k, v in raw.items()), key=lambda p: p.number)

    def claim(
        self, job_id: str, number: int, worker: str, *, now: int, lease_until: int, max_attempts: int,
        dead_owner: str = "",
    ) -> PageClaim:
        exhausted = {"code": "attempts_exhausted",
                     "message": f"this page crashed or timed out its worker {max_attempts} times; giving up"}
        res = self._claim(
            keys=self._keys(job_id),
            args=[number, worker, now, lease_until, max_attempts, dead_owner, _OWNER_JSON, json.dumps(exhausted)],
        )
        if res[0] == -1:
            return PageClaim(False, "gone")
        if res[0] == 1:
            return PageClaim(True, attempt=int(res[1]))
        if res[0] == 2:
            return PageClaim(False, "exhausted", counted=(int(res[1]), int(res[2]), int(res[3])))
        why = _text(res[1])
        return PageClaim(False, why, held_until=int(_text(res[2])) if why == "held" else None)

    def heartbeat(self, job_id: str, number: int, worker: str, lease_until: int) -> bool:
        return bool(self._heartbeat(keys=self._keys(job_id), args=[number, worker, lease_until]))

    def done(
        self, job_id: str, number: int, worker: str, *, lease_until: int, result_key: str | None = None,
        error: dict[str, str] | None = None,
    ) -> PageDone:
        """running → done for this worker's page, counted on the job in the same step."""
        res = self._done(
            keys=self._keys(job_id),
            args=[number, worker, lease_until, result_key or "", json.dumps(error), _OWNER_JSON, "0"],
        )
        if res[0] == 1:
            return PageDone(True, int(res[1]), int(res[2]), int(res[3]))
        return PageDone(False, why=_text(res[1]))

    def give_back(self, job_id: str, number: int, worker: str) -> bool:
        """running → queued with the attempt refunded (storage was down: no fault of the page)."""
        res = self._done(keys=self._keys(job_id), args=[number, worker, 0, "", "null", _OWNER_JSON, "1"])
        return bool(res[0] == 3)

    def delete_results(self, job_id: str, blobs: BlobStore) -> None:
        """Delete the page results the job's pages stored (once assembled, or when the job goes)."""
        for page in self.all(job_id):
            if page.result_key:
                blobs.delete(page.result_key)

    def forget(self, job_id: str, blobs: BlobStore) -> None:
        """The job goes (expired, purged): its page results and its page work with it."""
        self.delete_results(job_id, blobs)
        self.r.delete(keyspace.job_pages(job_id))


def _page(number: int, raw: Any) -> Page:
    d = json.loads(raw)
    return Page(
        number=number,
        state=d["state"],
        attempts=int(d.get("attempts", 0)),
        worker=d.get("worker"),
        lease_until=d.get("lease_until"),
        result_key=d.get("result_key"),
        error=d.get("error"),
    )
