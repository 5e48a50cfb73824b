"""Storage outages (issue 17, items 4 and 5): a real moto_server behind tests/faultproxy.py.

- A store that hangs answers in bounded time, then the circuit breaker fails calls at once and
  lets one probe through after its cool-down.
- The gateway answers 503 + Retry-After within seconds while the store hangs, and /healthz stays
  fast while 16 submits are in flight (storage can hold only some of the gateway's threads).
- A job during a refused window is given back without spending attempts and succeeds once the
  store returns, even with OCRQ_MAX_ATTEMPTS=2.
"""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis as redis_lib
import requests
from PIL import Image

from shared.infra.blobs import BlobStoreError
from shared.infra.s3_store import CircuitBreaker, S3BlobStore
from shared.jobs.model import InputRef, Job
from shared.jobs.store import JobStore
from tests.conftest import MakeService, S3Server
from tests.faultproxy import FaultProxy


def _png(seed: int = 0) -> bytes:
    img = Image.new("RGB", (120, 60), (255, 255, 255))
    img.putpixel((seed % 120, 5), (0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _store(s3: S3Server, proxy: FaultProxy, bucket: str, **kw: Any) -> S3BlobStore:
    return S3BlobStore(proxy.address, s3.access_key, s3.secret_key, bucket, secure=False, region="us-east-1", **kw)


def _timed(fn: Any, *args: Any, **kw: Any) -> tuple[float, BaseException | None]:
    t0 = time.monotonic()
    try:
        fn(*args, **kw)
    except BaseException as err:  # noqa: B036 - the test looks at what was raised
        return time.monotonic() - t0, err
    return time.monotonic() - t0, None


def test_hung_store_is_bounded_then_fails_fast_then_recovers(s3_server: S3Server, s3_bucket: str) -> None:
    with FaultProxy(int(s3_server.endpoint.rsplit(":", 1)[1])) as proxy:
        blobs = _store(s3_server, proxy, s3_bucket, connect_timeout_s=1, read_timeout_s=0.5, retries=0,
                       breaker=CircuitBreaker(threshold=2, cooldown_s=1.0))
        blobs.put("a.txt", b"a")
        proxy.set_mode("hang")
        for _ in range(2):  # each hung call ends at the read timeout, not after minutes
            took, err = _timed(blobs.get, "a.txt")
            assert isinstance(err, BlobStoreError) and took < 2.0, (took, err)
        accepted = proxy.connections_accepted
        took, err = _timed(blobs.put, "b.txt", b"b")  # the breaker is open: no call goes out
        assert isinstance(err, BlobStoreError) and took < 0.05, (took, err)
        assert proxy.connections_accepted == accepted
        proxy.set_mode("pass")
        time.sleep(1.1)  # the cool-down: one probe goes out and closes the breaker
        assert blobs.get("a.txt") == b"a"
        assert blobs.breaker.state == "closed"
        blobs.put("b.txt", b"b")


def test_refund_attempt_takes_back_the_claims_attempt(redis_db: str) -> None:
    store = JobStore(redis_lib.Redis.from_url(redis_db), retention_s=3600)
    job = Job(id="job_refund", tenant="acme", input=InputRef(bucket="b", key="k", sha256="0" * 64, bytes=1,
                                                             content_type="image/png", width=1, height=1))
    store.create(job)
    for _ in range(5):  # five outages in a row never reach the cap
        assert store.claim(job.id, "w:1", 30).applied
        assert store.release(job.id, "w:1", refund_attempt=True, fields={"storage_wait_since": 123}).applied
    got = store.get(job.id)
    assert got is not None and got.attempts == 0 and got.status.value == "queued"
    assert got.storage_wait_since == 123
    assert store.claim(job.id, "w:1", 30).applied
    assert store.release(job.id, "w:1").applied  # an ordinary give-back keeps the attempt
    got = store.get(job.id)
    assert got is not None and got.attempts == 1


def test_gateway_answers_503_fast_and_healthz_stays_fast_while_the_store_hangs(
    make_service: MakeService, s3_server: S3Server, s3_bucket: str
) -> None:
    with FaultProxy(int(s3_server.endpoint.rsplit(":", 1)[1])) as proxy:
        store_env = {**s3_server.env(s3_bucket), "OCRQ_S3_ENDPOINT": proxy.address,
                     "OCRQ_S3_READ_TIMEOUT_S": "1", "OCRQ_S3_RETRIES": "1"}
        svc = make_service(store_env=store_env, worker=False, env={"OCRQ_ENGINE": "checksum"})
        assert svc.submit(_png(1), name="a.png").status_code == 202
        proxy.set_mode("hang")

        def submit(i: int) -> tuple[float, requests.Response]:
            t0 = time.monotonic()
            r = svc.submit(_png(i + 10), name="a.png")
            return time.monotonic() - t0, r

        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(submit, i) for i in range(16)]
            time.sleep(0.3)  # the submits are in: some hold gateway threads on the hung store
            health = []
            for _ in range(20):
                t0 = time.monotonic()
                assert requests.get(f"{svc.url}/healthz", timeout=5).status_code == 200
                health.append(time.monotonic() - t0)
                time.sleep(0.05)
            answers = [f.result() for f in futures]
        assert max(health) < 0.1, f"/healthz took {max(health) * 1000:.0f} ms while the store hung"
        for took, r in answers:
            assert r.status_code == 503 and r.headers.get("Retry-After"), (r.status_code, r.text)
            assert r.json()["type"].endswith("storage_unavailable")
            assert took < 3.5, f"a submit took {took:.1f} s to answer while the store hung"
        # The breaker is open now: a submit is refused without waiting for the store at all.
        t0 = time.monotonic()
        r = svc.submit(_png(99), name="a.png")
        assert r.status_code == 503 and r.headers.get("Retry-After") and time.monotonic() - t0 < 0.5
        proxy.set_mode("pass")
        deadline = time.monotonic() + 15
        while (r := svc.submit(_png(100), name="a.png")).status_code != 202 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert r.status_code == 202, "the gateway did not recover when the store came back"


def test_refused_store_burns_no_attempts(make_service: MakeService, s3_server: S3Server, s3_bucket: str) -> None:
    with FaultProxy(int(s3_server.endpoint.rsplit(":", 1)[1])) as proxy:
        store_env = {**s3_server.env(s3_bucket), "OCRQ_S3_ENDPOINT": proxy.address}
        svc = make_service(store_env=store_env, worker=False,
                           env={"OCRQ_ENGINE": "checksum", "OCRQ_MAX_ATTEMPTS": "2"})
        r = svc.submit(_png(2), name="a.png")
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        proxy.set_mode("refuse")
        t_refuse = time.monotonic()
        from tests.conftest import _wait_worker_ready

        _wait_worker_ready(svc.logs / "worker.log", svc.start_worker())
        time.sleep(max(0.0, 15 - (time.monotonic() - t_refuse)))  # a 15 s outage, the worker retrying
        mid = requests.get(f"{svc.url}/v1/jobs/{job_id}", headers=svc.headers(), timeout=5)
        assert mid.status_code == 503 or mid.json()["status"] in ("queued", "running"), mid.text
        proxy.set_mode("pass")
        job = svc.wait(job_id, timeout=40)
        assert job["status"] == "succeeded", job
        assert job["attempts"] <= 1, job


def test_runner_refunds_until_the_outage_deadline_then_fails_storage_unavailable(
    redis_db: str, s3_server: S3Server, s3_bucket: str
) -> None:
    import hashlib

    from models.checksum import ChecksumEngine
    from shared.infra.blobs import input_key
    from shared.infra.settings import load_settings
    from shared.jobs.model import now_ms
    from workers.runner import JobRunner

    settings = load_settings(redis_url=redis_db, max_attempts=2, storage_outage_deadline_s=60)
    store = JobStore(redis_lib.Redis.from_url(redis_db), retention_s=3600)
    with FaultProxy(int(s3_server.endpoint.rsplit(":", 1)[1])) as proxy:
        blobs = _store(s3_server, proxy, s3_bucket)
        data = _png(3)
        sha = hashlib.sha256(data).hexdigest()
        blobs.put(input_key("acme", sha), data)

        def job(job_id: str, **kw: Any) -> str:
            store.create(Job(id=job_id, tenant="acme", **kw, input=InputRef(
                bucket=s3_bucket, key=input_key("acme", sha), sha256=sha, bytes=len(data),
                content_type="image/png", width=120, height=60)))
            return job_id

        fresh, old = job("job_fresh"), job("job_old", storage_wait_since=now_ms() - 61_000)
        runner = JobRunner(settings, store, blobs, ChecksumEngine())
        proxy.set_mode("refuse")
        for _ in range(4):  # more tries than max_attempts: none of them counts
            out = runner.run(fresh)
            assert out.status == "retry" and out.retry_in is not None and 1 <= out.retry_in <= 30, out
        got = store.get(fresh)
        assert got is not None and got.status.value == "queued" and got.attempts == 0
        out = runner.run(old)  # waited for storage past the deadline: fails for good, with its own code
        assert out.status == "failed" and out.detail == "storage_unavailable", out
        failed = store.get(old)
        assert failed is not None and failed.error is not None and failed.error.code == "storage_unavailable"
        proxy.set_mode("pass")
        time.sleep(5.1)  # the breaker's cool-down
        assert runner.run(fresh).status == "succeeded"
