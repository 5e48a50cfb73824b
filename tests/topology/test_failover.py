"""Redis failover under load: no accepted job lost, none doubled, clients see 503 + Retry-After at most.

Real processes on loopback: a Redis primary, two replicas and three Sentinels (tests/redis_ha.py), the
gateway under gunicorn, one OCR worker (checksum engine), the webhook worker delivering to a
registered endpoint on a local receiver. Every ocrq process gets only the Sentinel URL (job store,
rate limits, webhooks, planner, and Celery's broker). Two replicas and OCRQ_REDIS_MIN_REPLICAS=1:
the gateway waits for every live replica (both), so whichever Sentinel promotes holds every 202;
after the primary is SIGKILLed the new primary still has one replica to confirm writes: nothing is
restarted by hand, the Redis node included. A job's event is written by its finished-hooks; one cut
off by the kill is run again by the reaper's sweep (hooks_pending), so every job has its event.

The client is what a careful integrator writes: one Idempotency-Key per job, retried on 503 after
its Retry-After (and on a dropped connection), at most MAX_TRIES times and within a deadline.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from conftest import ROOT, Service, _kill_group, _wait_ready, _wait_worker_ready
from PIL import Image
from redis_ha import RedisHA
from wms_receiver import Receiver

from cli.procs import free_port
from shared.infra.redis_client import connect
from shared.tenants import KeyStore

pytestmark = pytest.mark.slow

N_JOBS = 300
CLIENTS = 6
KILL_AFTER = 100  # 202s before the primary is SIGKILLed: mid-load
MAX_TRIES = 40
JOB_DEADLINE_S = 90.0  # per job, all tries together
RETRY_AFTER_CAP_S = 5.0


def image(i: int) -> bytes:
    """A small distinct PNG per job (the checksum engine answers 'WxH sha' of its pixels)."""
    im = Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, 7))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def expected_text(i: int) -> str:
    im = Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, 7))
    return f"64x48 {hashlib.sha256(im.tobytes()).hexdigest()[:16]}"


@dataclass
class Outcome:
    index: int
    key: str
    job_id: str | None = None
    statuses: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    missing_retry_after: int = 0


def submit_with_retries(url: str, api_key: str, i: int) -> Outcome:
    out = Outcome(i, f"failover-{i}-{uuid.uuid4().hex[:8]}")
    deadline = time.monotonic() + JOB_DEADLINE_S
    data = image(i)
    for _ in range(MAX_TRIES):
        if time.monotonic() > deadline:
            break
        try:
            r = requests.post(f"{url}/v1/jobs", headers={"Authorization": f"Bearer {api_key}",
                                                         "Idempotency-Key": out.key},
                              files={"file": (f"{i}.png", data)}, data={"priority": "interactive"}, timeout=30)
        except requests.RequestException as err:  # a dropped connection: the key makes a retry safe
            out.errors.append(type(err).__name__)
            time.sleep(0.5)
            continue
        out.statuses.append(r.status_code)
        if r.status_code in (200, 202):
            out.job_id = r.json()["id"]
            return out
        retryable = r.status_code == 503 or (r.status_code == 409 and "in_progress" in r.text)
        if retryable:  # 409 idempotent_request_in_progress says "retry" and carries Retry-After too
            ra = r.headers.get("Retry-After")
            if ra is None:
                out.missing_retry_after += 1
            time.sleep(min(float(ra or 1), RETRY_AFTER_CAP_S))
            continue
        out.errors.append(f"{r.status_code} {r.text[:200]}")
        return out  # anything else is not retried: the assertions below report it
    return out


@dataclass
class Run:
    svc: Service
    outcomes: list[Outcome]
    accepted: dict[str, Outcome]  # job id -> its client's record
    jobs: dict[str, dict]  # job id -> the job as GET /v1/jobs/<id> last answered
    results: dict[str, tuple[int, str]]
    listed: list[str]
    events: dict[str, set[str]]  # job id -> distinct webhook-ids of its job.succeeded deliveries
    unverified: int
    pids_before: dict[str, int]
    pids_after: dict[str, int | None]  # None: still running


def start_service(base: Path, sentinel_url: str) -> Service:
    port = free_port()
    env = {
        **os.environ,
        "OCRQ_REDIS_URL": sentinel_url,
        "OCRQ_BROKER_URL": sentinel_url,
        "OCRQ_ENGINE": "checksum",
        "OCRQ_REDIS_MIN_REPLICAS": "1",
        "OCRQ_REDIS_WAIT_TIMEOUT_MS": "500",
        "OCRQ_STORAGE_URL": f"file://{base / 'blobs'}",
        "OCRQ_LEASE_S": "4",
        "OCRQ_REAPER_INTERVAL_S": "1",
        "OCRQ_QUEUED_RESEND_S": "10",
        "OCRQ_RATE_PER_S": "1000",
        "OCRQ_RATE_BURST": "1000",
        "OCRQ_WEBHOOK_ALLOW_HTTP": "true",
        "OCRQ_WEBHOOK_ALLOW_PRIVATE": "127.0.0.0/8,::1/128",
        "OCRQ_WEBHOOK_DNS": "hosts",
        "OCRQ_WEBHOOK_SCHEDULE_S": "0.5,1,1,2,2,2,2,2",
        "OCRQ_WEBHOOK_TIMEOUT_S": "5",
        "OCRQ_METRICS_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    logs = base / "logs"
    logs.mkdir()
    key, _ = KeyStore(connect(sentinel_url)).create("acme", "failover")
    api_log = open(logs / "api.log", "ab")
    api = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "api", "--port", str(port), "--workers", "1", "--threads", "16"],
        env=env, cwd=ROOT, stdout=api_log, stderr=subprocess.STDOUT, start_new_session=True)
    svc = Service(url=f"http://127.0.0.1:{port}", api_key=key, tenant="acme", env=env, redis_url=sentinel_url,
                  procs={"api": api}, logs=logs)
    try:
        _wait_ready(svc.url, api, 60)
        worker = svc.start_worker()
        _wait_worker_ready(logs / "worker.log", worker)
        svc.start_webhooks()
    except BaseException:
        stop_service(svc)
        raise
    return svc


def stop_service(svc: Service) -> None:
    for proc in svc.procs.values():
        _kill_group(proc)


def get(svc: Service, path: str, **params: str | int) -> requests.Response:
    """A read, retried briefly over a connection error (bounded)."""
    for attempt in range(5):
        try:
            return requests.get(svc.url + path, headers=svc.headers(), params=params, timeout=30)
        except requests.RequestException:
            if attempt == 4:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def load_with_one_kill(svc: Service, ha: RedisHA) -> list[Outcome]:
    """CLIENTS threads submit N_JOBS; the primary is SIGKILLed once KILL_AFTER are accepted."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    enough = threading.Event()
    todo = iter(range(N_JOBS))

    def client() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            out = submit_with_retries(svc.url, svc.api_key, i)
            with lock:
                outcomes.append(out)
                if sum(1 for o in outcomes if o.job_id) >= KILL_AFTER:
                    enough.set()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    assert enough.wait(120), "the first jobs were not accepted"
    old = ha.kill_primary()
    killed_at = time.monotonic()
    new = ha.wait_for_failover(old, timeout_s=30)
    failover_s = time.monotonic() - killed_at
    for t in threads:
        t.join(timeout=JOB_DEADLINE_S + 60)
    assert not any(t.is_alive() for t in threads), "a client did not finish within its bound"
    seen = Counter(s for o in outcomes for s in o.statuses)
    print(f"\nfailover {old} -> {new} in {failover_s:.1f} s; load {time.monotonic() - started:.1f} s; "
          f"statuses {dict(seen)}; connection errors {Counter(e for o in outcomes for e in o.errors)}")
    print("sequences with a 409:", Counter(tuple(o.statuses) for o in outcomes if 409 in o.statuses))
    return outcomes


def finished(svc: Service, job_ids: list[str], timeout_s: float = 180) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    jobs: dict[str, dict] = {}
    for job_id in job_ids:
        while True:
            r = get(svc, f"/v1/jobs/{job_id}", wait=10)
            if r.status_code != 200:  # lost in the failover: the test of states reports it
                jobs[job_id] = {"status": f"http {r.status_code}", "attempts": 0}
                break
            job = r.json()
            if job["status"] in ("succeeded", "failed", "canceled") or time.monotonic() > deadline:
                jobs[job_id] = job
                break
    return jobs


def listed_jobs(svc: Service) -> list[str]:
    listed: list[str] = []
    cursor = None
    for _ in range(50):  # 300 jobs / 100 a page, with room
        params: dict[str, str | int] = {"limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = get(svc, "/v1/jobs", **params).json()
        listed += [j["id"] for j in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return listed


def succeeded_events(rx: Receiver) -> dict[str, set[str]]:
    by_job: dict[str, set[str]] = {}
    for s in rx.accepted("/wms"):
        body = json.loads(s.body)
        if body["type"] == "job.succeeded":
            by_job.setdefault(body["data"]["job"]["id"], set()).add(s.headers["webhook-id"])
    return by_job


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The whole scenario, once; the tests below each check one promise against it."""
    base = tmp_path_factory.mktemp("failover")
    rx = Receiver().start()
    with RedisHA(base / "ha", replicas=2) as ha:
        svc = start_service(base, ha.url())
        try:
            r = requests.post(f"{svc.url}/v1/webhooks", headers=svc.headers(), timeout=10,
                              json={"url": rx.url("/wms"), "events": ["job.succeeded", "job.failed"]})
            assert r.status_code == 201, r.text
            rx.secrets["/wms"] = r.json()["secret"]
            pids = {name: p.pid for name, p in svc.procs.items()}
            outcomes = load_with_one_kill(svc, ha)
            accepted = {o.job_id: o for o in outcomes if o.job_id}
            jobs = finished(svc, list(accepted))
            results = {}
            for job_id in accepted:
                res = get(svc, f"/v1/jobs/{job_id}/result")
                results[job_id] = (res.status_code, res.text)
            listed = listed_jobs(svc)
            deadline = time.monotonic() + 45
            while set(succeeded_events(rx)) != set(accepted) and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2)  # a late duplicate would arrive now
            events = succeeded_events(rx)
            unverified = sum(1 for s in rx.of("/wms") if not s.verified)
            after = {n: (None if p.poll() is None else p.returncode) for n, p in svc.procs.items()}
            print(f"final states {dict(Counter(j['status'] for j in jobs.values()))}; attempts "
                  f"{dict(sorted(Counter(j['attempts'] for j in jobs.values()).items()))}; webhook deliveries "
                  f"{len(rx.accepted('/wms'))} for {len(events)} jobs")
            yield Run(svc, outcomes, accepted, jobs, results, listed, events, unverified, pids,
                      {n: p.pid if after[n] is None else None for n, p in svc.procs.items()})
        finally:
            stop_service(svc)
            rx.stop()


def test_the_kill_landed_mid_load(run: Run) -> None:
    assert any(503 in o.statuses for o in run.outcomes), "no 503 seen: the failover was not exercised"
    assert len(run.outcomes) == N_JOBS


def test_every_job_is_accepted_within_bounded_retries(run: Run) -> None:
    assert len(run.accepted) == N_JOBS, [o for o in run.outcomes if not o.job_id][:5]


def test_clients_never_see_a_500_and_every_503_has_retry_after(run: Run) -> None:
    seen = Counter(s for o in run.outcomes for s in o.statuses)
    assert not [s for s in seen if s >= 500 and s != 503], dict(seen)
    assert sum(o.missing_retry_after for o in run.outcomes) == 0, "a 503 (or 409 in progress) without Retry-After"


def test_clients_see_only_202_200_503(run: Run) -> None:
    seen = Counter(s for o in run.outcomes for s in o.statuses)
    assert set(seen) <= {200, 202, 503}, dict(seen)


def test_every_accepted_job_succeeds_once_with_its_own_result(run: Run) -> None:
    states = Counter(j["status"] for j in run.jobs.values())
    assert states == {"succeeded": len(run.accepted)}, dict(states)
    assert all(1 <= j["attempts"] <= 3 for j in run.jobs.values())
    for job_id, o in run.accepted.items():
        status, text = run.results[job_id]
        assert status == 200, f"{job_id}: result {status}"
        assert expected_text(o.index) in text, f"{job_id}: the result is not its own image's"


def test_no_job_doubled_by_retries_or_failover(run: Run) -> None:
    assert len(set(run.accepted)) == N_JOBS  # one job id per Idempotency-Key
    assert Counter(run.listed) == Counter(list(run.accepted)), "the job list differs from the accepted jobs"


def test_every_accepted_job_has_its_job_succeeded_event(run: Run) -> None:
    assert set(run.events) == set(run.accepted), (
        f"missing: {sorted(set(run.accepted) - set(run.events))}, extra: {len(set(run.events) - set(run.accepted))}")


def test_no_job_has_two_events_and_every_delivery_is_signed(run: Run) -> None:
    assert set(run.events) <= set(run.accepted)
    assert all(len(ids) == 1 for ids in run.events.values()), "a job had two distinct job.succeeded events"
    assert run.unverified == 0


def test_no_process_restarted_by_hand(run: Run) -> None:
    assert run.pids_after == run.pids_before, run.pids_after
