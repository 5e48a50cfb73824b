"""The reaper: puts jobs back on the queue that no message will ever bring back.

- a running job whose lease expired (its worker died and the broker will only redeliver after the
  visibility timeout, or never if the message was lost) gets a fresh message; the runner takes it over;
  a document whose pages are out gets only the page messages that look lost (or, all pages done,
  its job message: the runner assembles it);
- a queued job whose message was never confirmed sent (the gateway crashed between storing the
  job and publishing, or Redis lost the last second of writes) gets its message;
- a queued job whose message went out more than OCRQ_QUEUED_RESEND_S ago gets another (a message
  lost with a Redis restart, or parked in the broker's unacked set until the visibility timeout);
- a job past its retention is deleted with its result, (when no live job uses it) its input and
  (once every delivery of them is done) its webhook events;
- a finished job whose finished-hooks (webhook event, batch accounting) were cut off after its
  transition (a worker killed there, a Redis failover) gets them run: the transition itself put
  it on ``hooks_pending``, the runner takes it off once they ran, so nothing finishes unheard;
- a broker message delivered before the broker's Redis last started goes back on its queue at
  once, not after the visibility timeout: every connection it was delivered on died with that
  Redis, so no live channel can acknowledge it. The worker that held it puts it back itself when
  it reconnects (workers/kombu_compat.py); this covers a worker that died before Redis returned;
- a queued job whose message went out before the broker's Redis last started and is now in no
  queue and in no worker's hands (lost with that server) is sent again, once per start, at once;
Duplicates are harmless: the runner's compare-and-set skips any job that is not claimable.
One reaper acts at a time across the fleet (a Redis lock), though every worker runs the loop.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from celery import Celery

from shared.infra import keyspace
from shared.infra.blobs import BlobStore
from shared.infra.broker import JOB_QUEUES, broker_kind
from shared.infra.redis_client import as_str, connect
from shared.infra.settings import Settings
from shared.infra.storage import open_blob_store
from shared.jobs import Job, Status, now_ms
from shared.jobs.pages import PAGES_OWNER, PageStore
from shared.jobs.store import JobStore
from shared.reviews.service import forget_review
from shared.webhooks.outbox import Outbox
from workers.celery_app import job_sender, page_sender
from workers.finished_hooks import finished_hooks
from workers.runner_base import SendPage

log = logging.getLogger("ocrq.reaper")

LOCK_KEY = keyspace.REAPER_LOCK
UNSENT_GRACE_MS = 30_000
# The runner runs a job's hooks within milliseconds of its transition; one still pending this long
# later was cut off (or its runner is still retrying through an outage: the hooks are idempotent).
HOOKS_GRACE_MS = 10_000
HOOKS_RETRY_MS = 30_000  # a sweep whose hooks failed looks at the job again this much later
HOOKS_GIVE_UP_MS = 24 * 3600 * 1000  # then it logs an error and stops

Send = Callable[[str, str], None]  # (job_id, queue)
Hook = Callable[[Job], None]


def reap_once(store: JobStore, send: Send, lease_s: int, now: int | None = None, *,
              queued_resend_s: int = 900, send_page: SendPage | None = None) -> int:
    """One pass; returns how many messages were sent."""
    now = now or now_ms()
    sent = 0
    for job_id in store.expired_leases(now):
        job = store.get(job_id)
        if job is None or job.terminal:
            store.r.zrem(store.RUNNING, job_id)
            continue
        if job.worker == PAGES_OWNER and send_page is not None:
            sent += _refresh_document(store, job, send, send_page, lease_s, queued_resend_s, now)
            continue
        # Push the deadline on before sending, so the next pass does not send again at once.
        store.r.zadd(store.RUNNING, {job_id: now + lease_s * 1000}, xx=True)
        send(job_id, job.priority)
        sent += 1
        log.warning("re-enqueued running job with expired lease", extra={"job_id": job_id, "tenant": job.tenant})
    for job_id in store.unsent_before(now - UNSENT_GRACE_MS):
        job = store.get(job_id)
        if job is not None and not job.terminal:
            send(job_id, job.priority)
            sent += 1
            log.warning("sent message for a job that had none", extra={"job_id": job_id, "tenant": job.tenant})
        store.mark_sent(job_id)
    for job_id in store.queued_unsent_since(now - queued_resend_s * 1000):
        job = store.get(job_id)
        if job is None or job.status != Status.queued:
            store.r.zrem(store.QUEUED, job_id)
            continue
        send(job_id, job.priority)
        store.mark_sent(job_id)
        sent += 1
        log.warning("re-sent a job queued too long", extra={"job_id": job_id, "tenant": job.tenant})
    return sent


def expire_once(store: JobStore, blobs: BlobStore, now: int | None = None, limit: int = 200, *,
                outbox: Outbox | None = None) -> int:
    """Delete what is past its retention: result, the input when no live job uses it, the record,
    and (given the outbox) its webhook events once every delivery of them is done.

    Its cost is the number of jobs expiring, not the number alive (a sorted set by expiry).
    A job still running is looked at again a minute later.
    """
    now = now or now_ms()
    done = 0
    for job_id in store.expiring_before(now, limit):
        job = store.get(job_id)
        if job is None:
            store.r.zrem(store.EXPIRING, job_id)
            continue
        if not job.terminal and job.status != Status.queued:
            store.r.zadd(store.EXPIRING, {job_id: now + 60_000})
            continue
        if job.status == Status.queued:
            store.cancel(job_id)  # never run what has expired
        if job.result_key:
            blobs.delete(job.result_key)
        if job.pages_total is not None:  # a document: what its pages stored (a canceled one's, say)
            PageStore(store.r, store.retention_s).forget(job.id, blobs)
        forget_review(store, blobs, job)  # a reviewed job: its corrected revision and review indexes
        if store.release_input(job):
            blobs.delete(job.input.key)
        store.delete(job)
        if outbox is not None:
            outbox.forget_delivered(job.tenant, job.id, now)
        done += 1
    if done:
        log.info("expired %d jobs", done)
    return done


def sweep_hooks(store: JobStore, hooks: Sequence[Hook], now: int | None = None, limit: int = 100) -> int:
    """Run the finished-hooks of jobs still on hooks_pending past HOOKS_GRACE_MS; returns how many
    jobs had them all run. Every hook is idempotent (the event's id is derived from job and type,
    batch accounting goes with the HDEL of the item), so a runner that did run them, or runs them
    right now, causes no second event and no second count."""
    now = now or now_ms()
    swept = 0
    for job_id in store.hooks_pending_before(now - HOOKS_GRACE_MS, limit):
        job = store.get(job_id)
        if job is None or not job.terminal:  # expired, purged, or accounted into its batch (record dropped)
            store.hooks_done(job_id)
            continue
        try:
            for hook in hooks:
                hook(job)
        except Exception as err:
            age_ms = now - (job.finished_at or job.updated_at or now)
            if age_ms > HOOKS_GIVE_UP_MS:
                log.error("gave up the finished-hooks of a job after %d h: %s", age_ms // 3_600_000, err,
                          extra={"job_id": job_id, "tenant": job.tenant})
                store.hooks_done(job_id)
            else:
                log.warning("finished-hooks failed, retry in %d s: %s", HOOKS_RETRY_MS // 1000, err,
                            extra={"job_id": job_id, "tenant": job.tenant})
                store.hooks_retry_at(job_id, now - HOOKS_GRACE_MS + HOOKS_RETRY_MS)
            continue
        store.hooks_done(job_id)
        swept += 1
        log.warning("ran the finished-hooks its worker did not", extra={"job_id": job_id, "tenant": job.tenant})
    return swept


def _refresh_document(store: JobStore, job: Job, send: Send, send_page: SendPage, lease_s: int,
                      queued_resend_s: int, now: int) -> int:
    """A document no page of which moved for a whole lease: re-send only the page messages that
    look lost (shared/jobs/pages.py fan_out), or the job message when every page is done (its last
    page's worker died before assembling: the runner assembles). Pages merely waiting in a long
    queue send nothing, so a backlog of documents costs no messages."""
    pages = PageStore(store.r, store.retention_s)
    selected = job.pages or list(range(1, (job.pages_total or 0) + 1))
    fan = pages.fan_out(job.id, PAGES_OWNER, selected, now=now, lease_until=now + lease_s * 1000,
                        resend_before=now - queued_resend_s * 1000)
    ids = {"job_id": job.id, "tenant": job.tenant}
    if not fan.applied:
        return 0
    if fan.complete:
        send(job.id, job.priority)
        log.warning("sent a document whose pages are all done but whose result was not assembled", extra=ids)
        return 1
    for number in fan.to_send:
        send_page(job.id, number, job.priority)
    pages.mark_sent(job.id, list(fan.to_send), now)
    if fan.to_send:
        log.warning("re-sent %d page message(s) of a document that looked lost", len(fan.to_send), extra=ids)
    return len(fan.to_send)


def restore_orphaned_messages(channel: Any, limit: int = 100) -> int:
    """Put back on their queues the messages in the broker's ``unacked`` set that were delivered
    before its Redis server started (kombu's Redis channel ``channel``); returns how many. INFO's
    uptime counts whole seconds from the second the server started in, so the cut is the end of
    that second: a message delivered within it, after the start, by a worker already connected
    again is put back while that worker holds it, and delivered twice, which the runner's
    compare-and-set makes harmless (missing one delivered just before the start would leave it to
    the visibility timeout). Delivery times are the consuming worker's clock: keep the hosts'
    clocks in sync. Each goes back with kombu's ``restore_by_tag`` (one transaction: a message a
    reconnecting worker put back already is not put back twice)."""
    client = channel.client
    uptime_s = int(client.info("server")["uptime_in_seconds"])
    now_s, _ = client.time()
    started = int(now_s) - uptime_s + 1
    qos = channel.qos
    tags = client.zrangebyscore(qos.unacked_index_key, "-inf", f"({started}", start=0, num=limit)
    for tag in tags:
        qos.restore_by_tag(tag, client=client)
    if tags:
        log.warning("put back on the queue %d message(s) delivered before the broker restarted", len(tags))
    return len(tags)


_JOB_ID = re.compile(rb"job_[A-Za-z0-9_-]{27}")


def broker_started_s(client: Any) -> int:
    """The second the broker's Redis server started in (INFO uptime counts whole seconds)."""
    uptime_s = int(client.info("server")["uptime_in_seconds"])
    now_s, _ = client.time()
    return int(now_s) - uptime_s


def resend_lost_before_start(channel: Any, store: JobStore, send: Send, started_s: int) -> int:
    """Send again the queued jobs whose message went out before the broker's Redis started and is
    now in no queue and in no worker's hands; returns how many.

    Such a message was lost with the old server: written in its last second before a SIGKILL
    (AOF ``everysec``), or popped by a worker whose kombu channel died before recording it as
    unacknowledged. Without this the job would wait OCRQ_QUEUED_RESEND_S (900 s). The queues are
    read whole, once per broker start: they are bounded (OCRQ_INTERACTIVE_QUEUE_MAX, the backfill
    window). A message that is still there keeps its job from being sent twice; were it sent twice
    anyway, the runner's compare-and-set skips the second."""
    client = channel.client
    present: set[bytes] = set()
    for queue in JOB_QUEUES:  # kombu keeps a queue's priority levels in lists named after it
        for name in client.scan_iter(match=f"{queue}*", _type="list"):
            for raw in client.lrange(name, 0, -1):
                present.update(_JOB_ID.findall(raw))
    for raw in client.hvals(channel.qos.unacked_key):
        present.update(_JOB_ID.findall(raw))
    sent = 0
    for member in store.r.zrangebyscore(store.QUEUED, "-inf", f"({started_s * 1000}"):
        job_id = as_str(member)
        if job_id.encode() in present:
            continue
        job = store.get(job_id)
        if job is None or job.status != Status.queued:
            continue
        send(job_id, job.priority)
        store.mark_sent(job_id)
        sent += 1
        log.warning("re-sent a job whose message was lost with the broker's restart",
                    extra={"job_id": job_id, "tenant": job.tenant})
    return sent


LOST_CHECK_DELAY_S = 5  # after a broker start, before looking for the messages it lost


class OrphanRestorer:
    """After a broker restart, on one broker connection kept between passes (Redis brokers only):
    restore_orphaned_messages, and once per start of the broker's server, resend_lost_before_start."""

    def __init__(self, app: Celery, store: JobStore | None = None, send: Send | None = None) -> None:
        self.app = app
        self.store, self.send = store, send
        self.enabled = broker_kind(str(app.conf.broker_url)) == "redis"
        self._conn: Any = None
        self._checked_start: int | None = None  # the broker start whose lost messages were looked for

    def __call__(self) -> int:
        if not self.enabled:
            return 0
        try:
            if self._conn is None:
                self._conn = self.app.connection_for_write()
            channel = self._conn.default_channel
            restored = restore_orphaned_messages(channel)
            started = broker_started_s(channel.client)
            if self.store is not None and self.send is not None and started != self._checked_start:
                # A few seconds' grace: the messages of the gateway's last sends before the crash
                # and of workers' put-backs land first; then one look per start of the server.
                if time.time() - started >= LOST_CHECK_DELAY_S:
                    restored += resend_lost_before_start(channel, self.store, self.send, started)
                    self._checked_start = started
            return restored
        except Exception:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.release()
                except Exception:
                    pass
            raise


def celery_sender(app: Celery, client: redis.Redis | None = None) -> Send:
    """Job messages; with ``client``, each re-send continues its job's trace from the traceparent
    stored on the job (the reaper sends outside any span, from a process that may not trace)."""
    return job_sender(app, client)


_stop = threading.Event()
_thread: threading.Thread | None = None


def start_reaper_thread(settings: Settings, app: Celery) -> None:
    global _thread
    if _thread is not None:
        return
    _stop.clear()
    store = JobStore(connect(settings.redis_url, "ocrq-reaper"), settings.retention_s)
    send = celery_sender(app, store.r)
    pages_out = page_sender(app, store.r)
    blobs = open_blob_store(settings)
    interval = settings.reaper_interval_s
    hooks = finished_hooks(settings, store, app)  # the runner's hooks, on the reaper's own connection
    outbox = Outbox(store.r, settings)
    restore_orphans = OrphanRestorer(app, store, send)

    def loop() -> None:
        while not _stop.wait(interval):
            try:
                # Lock TTL = interval: a dead reaper's lock frees itself by the next pass.
                if store.r.set(LOCK_KEY, "1", nx=True, px=int(interval * 1000)):
                    try:
                        restore_orphans()
                    except Exception as err:  # the broker may be another server than the job store
                        log.warning("could not look for messages orphaned by a broker restart: %s", err)
                    reap_once(store, send, settings.lease_s, queued_resend_s=settings.queued_resend_s,
                              send_page=pages_out)
                    sweep_hooks(store, hooks)
                    expire_once(store, blobs, outbox=outbox)
            except Exception as err:
                log.warning("reaper pass failed: %s", err)

    _thread = threading.Thread(target=loop, name="ocrq-reaper", daemon=True)
    _thread.start()


def stop_reaper_thread() -> None:
    global _thread
    _stop.set()
    _thread = None
