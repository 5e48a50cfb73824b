"""The gateway's contract through real HTTP: gunicorn + a real Redis (+ S3 server, + worker where needed).

Which test runs on what (every one on the S3 store, as production runs on MinIO):
- `gateway`: one gunicorn gateway without a worker, shared by the module (conftest's module_service);
- `stack`: one gateway + worker, shared by the module; both give each test a fresh tenant and key, so
  assertions on Redis count the test's own tenant's jobs and queue messages only;
- `inprocess`: the gateway in process (make_inprocess_service) on a clean Redis, for settings of its own;
- `make_service`: a stack of the test's own (a worker started later, a body limit that gunicorn applies).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import imaging
import pytest
import redis
import requests
from conftest import new_tenant

from shared.infra.blobs import input_key

FINAL = ("succeeded", "failed", "canceled")


@pytest.fixture
def make_service(make_s3_service):
    return make_s3_service  # every gateway test on the S3 store, as production runs on MinIO


@pytest.fixture
def gateway(module_service):
    return module_service(worker=False, s3=True).for_new_tenant()


@pytest.fixture
def stack(module_service):
    return module_service(s3=True).for_new_tenant()


@pytest.fixture
def inprocess(make_inprocess_service, s3_server, s3_bucket):
    def make(env: dict[str, str] | None = None, tenant: str = "acme"):
        return make_inprocess_service(store_env=s3_server.env(s3_bucket), env=env, tenant=tenant)

    return make


def _jobs_of(rc: redis.Redis, tenant: str) -> list[str]:
    """The job records of one tenant (on a shared stack, other tests' jobs are there too)."""
    return [k.decode() for k in rc.keys("ocrq:job:*") if json.loads(rc.hget(k, "tenant") or "null") == tenant]


def _queued(rc: redis.Redis, queue: str, job_ids: set[str]) -> int:
    """How many task messages on a queue are for these jobs."""
    n = 0
    for raw in rc.lrange(queue, 0, -1):
        args = json.loads(base64.b64decode(json.loads(raw)["body"]))[0]
        n += args[0] in job_ids
    return n


def _jpeg(seed: int) -> bytes:
    """A distinct small JPEG per seed (distinct bytes: distinct content-addressed inputs)."""
    return imaging.jpeg(200 + seed % 97, 150 + seed // 97)


def _get(svc, path: str, key: str | None = None, **kw) -> requests.Response:
    return svc.http.get(f"{svc.url}{path}", headers=svc.headers(key), timeout=30, **kw)


def _delete(svc, path: str, key: str | None = None, **kw) -> requests.Response:
    return svc.http.delete(f"{svc.url}{path}", headers=svc.headers(key), timeout=30, **kw)


# ------------------------------------------------------------------ auth and tenants
def test_auth_required_and_foreign_tenant_sees_404_exactly_like_unknown(gateway):
    svc = gateway
    job = svc.submit(_jpeg(1)).json()
    jid = job["id"]
    other = svc.new_key(new_tenant("globex"))
    for path in (f"/v1/jobs/{jid}", f"/v1/jobs/{jid}/result", f"/v1/jobs/{jid}/image"):
        r = requests.get(f"{svc.url}{path}", timeout=10)
        assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
        assert "WWW-Authenticate" in r.headers
        fake = "job_doesnotexist000000000000"
        foreign, unknown = _get(svc, path, other), _get(svc, path.replace(jid, fake), other)
        assert foreign.status_code == unknown.status_code == 404
        assert foreign.json()["type"] == unknown.json()["type"] == "urn:ocrq:problem:job_not_found"
        # byte for byte the same answer, but for the id the client itself sent
        assert foreign.text.replace(jid, "ID") == unknown.text.replace(fake, "ID")
        assert foreign.headers["Content-Type"] == unknown.headers["Content-Type"] == "application/problem+json"
    assert _delete(svc, f"/v1/jobs/{jid}", other).status_code == 404
    assert _delete(svc, f"/v1/jobs/{jid}?purge=true", other).status_code == 404
    # the other tenant's list is empty; the job still exists, untouched, for its owner
    assert _get(svc, "/v1/jobs", other).json()["items"] == []
    assert _get(svc, f"/v1/jobs/{jid}").json()["status"] == "queued"


# ------------------------------------------------------------------ idempotency
def test_twenty_concurrent_requests_with_one_idempotency_key_create_exactly_one_job(gateway):
    svc = gateway
    data = _jpeg(2)
    barrier = threading.Barrier(20)

    def one(_: int) -> requests.Response:
        barrier.wait(timeout=10)
        return svc.submit(data, headers={"Idempotency-Key": "scan-42"})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(one, range(20)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 19 + [202], [r.text for r in responses if r.status_code not in (200, 202)]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    r = redis.Redis.from_url(svc.redis_url)
    assert len(_jobs_of(r, svc.tenant)) == 1
    assert _queued(r, "interactive", ids) == 1
    # a later retry is the same job, 200
    again = svc.submit(data, headers={"Idempotency-Key": "scan-42"})
    assert (
        again.status_code == 200
        and again.json()["id"] in ids
        and again.headers["Location"].endswith(again.json()["id"])
    )
    # the same key with another image is a 409; another tenant's same key is its own job
    other = svc.submit(_jpeg(3), headers={"Idempotency-Key": "scan-42"})
    assert other.status_code == 409 and other.json()["type"] == "urn:ocrq:problem:idempotency_key_reused"
    globex = svc.submit(data, key=svc.new_key(new_tenant("globex")), headers={"Idempotency-Key": "scan-42"})
    assert globex.status_code == 202 and globex.json()["id"] not in ids


# ------------------------------------------------------------------ submit by reference
def test_submit_by_reference_reads_an_allowed_bucket_without_copying(stack, s3_server, s3_bucket):
    from minio import Minio

    from shared.tenants import KeyStore

    svc = stack
    ocrq_bucket = svc.env["OCRQ_STORAGE_URL"].removeprefix("s3://")
    scans = s3_bucket + "-scans"
    s3_server.make_bucket(scans)
    mc = Minio(s3_server.endpoint, access_key="testing", secret_key="testing", secure=False)
    img = imaging.label("REF 77", fmt="PNG")
    mc.put_object(scans, "2024/label.png", io.BytesIO(img), len(img), content_type="image/png")
    body = {"source": {"bucket": scans, "key": "2024/label.png"}, "task": "text", "metadata": {"dock": 4}}
    auth = svc.headers()

    r = requests.post(f"{svc.url}/v1/jobs", json=body, headers=auth, timeout=30)
    assert r.status_code == 403 and r.json()["type"] == "urn:ocrq:problem:bucket_not_allowed"
    KeyStore(redis.Redis.from_url(svc.redis_url)).allow_bucket(svc.tenant, scans)
    r = requests.post(f"{svc.url}/v1/jobs", json=body, headers=auth, timeout=30)
    assert r.status_code == 202, r.text
    job = svc.wait(r.json()["id"])
    assert job["status"] == "succeeded" and job["result"]["text"].strip() == "REF 77"
    assert job["metadata"] == {"dock": 4} and job["input"]["content_type"] == "image/png"
    # no copy: ocrq's own bucket holds the result only, no input bytes
    own = [o.object_name for o in mc.list_objects(ocrq_bucket, recursive=True) if f"/{svc.tenant}/" in o.object_name]
    assert own and all(k.startswith("results/") for k in own), own
    assert _get(svc, f"/v1/jobs/{job['id']}/image").content == img
    # a missing object in an allowed bucket is a 404 problem, before anything is queued
    r = requests.post(
        f"{svc.url}/v1/jobs", json={"source": {"bucket": scans, "key": "nope.png"}}, headers=auth, timeout=30
    )
    assert r.status_code == 404 and r.json()["type"] == "urn:ocrq:problem:source_not_found"
    # purging a reference job never deletes the tenant's own object
    assert _delete(svc, f"/v1/jobs/{job['id']}?purge=true").status_code == 204
    assert mc.stat_object(scans, "2024/label.png").size == len(img)


def test_keys_cli_allow_bucket(gateway):
    import subprocess
    import sys

    from conftest import ROOT

    from shared.tenants import KeyStore

    svc = gateway
    tenant = new_tenant("initech")
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "keys", "create", "--tenant", tenant, "--allow-bucket", "scans-a"],
        env=svc.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert KeyStore(redis.Redis.from_url(svc.redis_url)).allowed_buckets(tenant) == {"scans-a"}


# ------------------------------------------------------------------ options
def test_job_options_are_stored_and_bulk_goes_to_the_bulk_queue(gateway, inprocess):
    svc = gateway
    r = svc.submit(
        _jpeg(4),
        priority="bulk",
        task="spotting",
        metadata=json.dumps({"scanner": "s-9", "n": 3}),
        webhook_url="http://127.0.0.1:9/hook",
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["priority"] == "bulk" and job["task"] == "spotting"
    assert job["metadata"] == {"scanner": "s-9", "n": 3} and job["webhook_url"] == "http://127.0.0.1:9/hook"
    rc = redis.Redis.from_url(svc.redis_url)
    assert _queued(rc, "bulk", {job["id"]}) == 1 and _queued(rc, "interactive", {job["id"]}) == 0
    assert json.loads(rc.hget(f"ocrq:job:{job['id']}", "webhook_url")) == "http://127.0.0.1:9/hook"
    got = _get(svc, f"/v1/jobs/{job['id']}").json()
    assert got["metadata"] == job["metadata"] and got["priority"] == "bulk"
    # task params are validated and stored (checked against a VLM engine's task list)
    svc2 = inprocess(env={"OCRQ_ENGINE": "hunyuan", "OCRQ_MODEL_PATH": "/nonexistent"}, tenant="vlm")
    r = svc2.submit(_jpeg(5), task="fields", fields="total, date")
    assert r.status_code == 202, r.text
    assert r.json()["params"] == {"fields": ["total", "date"]}
    r = svc2.submit(_jpeg(5), task="translate", target_lang="zh")
    assert r.json()["params"] == {"target_lang": "zh"}
    r = svc2.http.post(
        f"{svc2.url}/v1/jobs",
        headers=svc2.headers(),
        timeout=30,
        files={"file": ("a.jpg", _jpeg(6))},
        data={"task": "ask", "instruction": "What is the total?"},
    )
    assert r.status_code == 202 and r.json()["params"] == {"instruction": "What is the total?"}


# ------------------------------------------------------------------ long-poll
def test_long_poll_answers_as_soon_as_the_job_finishes(stack, gateway):
    svc = stack
    jid = svc.submit(imaging.label("WAIT 1")).json()["id"]
    t0 = time.monotonic()
    r = _get(svc, f"/v1/jobs/{jid}", params={"wait": 30})
    took = time.monotonic() - t0
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    assert took < 25 and "Retry-After" not in r.headers
    # with no worker, the wait runs out and the answer says when to ask again
    svc = gateway
    jid2 = svc.submit(_jpeg(7)).json()["id"]
    t0 = time.monotonic()
    r = _get(svc, f"/v1/jobs/{jid2}", params={"wait": 1.5})
    assert 1.3 < time.monotonic() - t0 < 10
    assert r.json()["status"] == "queued" and r.headers["Retry-After"] == "1"


def test_long_poll_wakes_on_publish_without_polling_redis(gateway):
    """While a long-poll waits, the gateway sends Redis no commands; the finish wakes it at once."""
    from shared.jobs.store import JobStore

    svc = gateway
    jid = svc.submit(_jpeg(8)).json()["id"]
    rc = redis.Redis.from_url(svc.redis_url)
    store = JobStore(rc, 3600)
    result: dict = {}

    def poll() -> None:
        t0 = time.monotonic()
        result["r"] = _get(svc, f"/v1/jobs/{jid}", params={"wait": 20})
        result["t"] = time.monotonic() - t0

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.5)
    before = rc.info("stats")["total_commands_processed"]
    time.sleep(1.5)
    during = rc.info("stats")["total_commands_processed"] - before
    assert during <= 3, during  # only our own INFO calls: no busy polling by the gateway
    from shared.jobs import JobError

    assert store.claim(jid, "test-worker", 30).applied
    t_done = time.monotonic()
    assert store.fail(jid, JobError(code="engine_error", message="test"), worker="test-worker").applied
    th.join(30)
    assert result["r"].json()["status"] == "failed" and "Retry-After" not in result["r"].headers
    assert time.monotonic() - t_done < 2 and result["t"] < 10


def test_a_stopping_gateway_answers_its_long_polls_at_once_and_exits(make_service):
    """SIGTERM (a restart, a deploy): the long-poll gets the job as it is, with Retry-After, and
    gunicorn exits in about a second instead of holding the stop for the whole wait (api/draining.py)."""
    import os
    import signal

    svc = make_service(worker=False)
    jid = svc.submit(_jpeg(9)).json()["id"]
    result: dict = {}

    def poll() -> None:
        result["r"] = _get(svc, f"/v1/jobs/{jid}", params={"wait": 25})
        result["answered"] = time.monotonic()

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(1.0)  # the long-poll is waiting
    api = svc.procs["api"]
    stopped = time.monotonic()
    os.killpg(api.pid, signal.SIGTERM)
    api.wait(timeout=20)
    exited = time.monotonic() - stopped
    th.join(20)
    r = result["r"]
    assert r.status_code == 200 and r.json()["status"] == "queued" and r.headers["Retry-After"] == "1", r.text
    assert result["answered"] - stopped < 3, result["answered"] - stopped
    assert exited < 5, exited


# ------------------------------------------------------------------ cancel and purge
def test_cancel_a_queued_job_and_the_worker_skips_it(make_service):
    svc = make_service(worker=False)
    first = svc.submit(imaging.label("CANCEL ME")).json()["id"]
    second = svc.submit(imaging.label("KEEP ME")).json()["id"]
    r = _delete(svc, f"/v1/jobs/{first}")
    assert r.status_code == 200 and r.json()["status"] == "canceled"
    again = _delete(svc, f"/v1/jobs/{first}")
    assert again.status_code == 409 and again.json()["type"] == "urn:ocrq:problem:not_cancelable"
    svc.start_worker()
    done = svc.wait(second)
    assert done["status"] == "succeeded"
    rc = redis.Redis.from_url(svc.redis_url)
    deadline = time.monotonic() + 30
    while rc.llen("interactive") and time.monotonic() < deadline:
        time.sleep(0.2)
    canceled = _get(svc, f"/v1/jobs/{first}").json()
    assert canceled["status"] == "canceled" and canceled["attempts"] == 0 and canceled["started_at"] is None
    assert _get(svc, f"/v1/jobs/{first}/result").status_code == 409
    # a finished job cannot be canceled; purge deletes it and its data
    r = _delete(svc, f"/v1/jobs/{second}")
    assert r.status_code == 409 and "purge" in r.json()["detail"]
    assert _get(svc, f"/v1/jobs/{second}/image").status_code == 200
    result_key = json.loads(rc.hget(f"ocrq:job:{second}", "result_key"))
    assert _delete(svc, f"/v1/jobs/{second}", params={"purge": "true"}).status_code == 204
    for path in ("", "/result", "/image"):
        assert _get(svc, f"/v1/jobs/{second}{path}").status_code == 404
    assert not rc.exists(f"ocrq:job:{second}")
    assert second not in [j["id"] for j in _get(svc, "/v1/jobs").json()["items"]]
    # Gone from the service's S3 store itself (the result and the input), not from some local folder.
    store = svc.blob_store()
    assert [b.key for b in store.list(result_key)] == []
    assert [b.key for b in store.list(input_key(svc.tenant, done["input"]["sha256"]))] == []


# ------------------------------------------------------------------ list
def test_list_newest_first_with_cursor_pages_no_duplicates_or_misses(inprocess):
    svc = inprocess(env={"OCRQ_RATE_BURST": "500"})
    ids = [svc.submit(_jpeg(100 + i)).json()["id"] for i in range(23)]
    rc = redis.Redis.from_url(svc.redis_url)
    # several jobs in the same millisecond must not break paging: give 5 of them one timestamp
    same = int(time.time() * 1000) + 86_400_000  # a day ahead: also the newest
    from shared.jobs.store import JobStore

    for jid in ids[5:10]:
        rc.zadd(JobStore.tenant_index(svc.tenant), {jid: same})
        rc.hset(JobStore.key(jid), "created_at", json.dumps(same))
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = _get(svc, "/v1/jobs", params=params).json()
        seen += [j["id"] for j in page["items"]]
        assert len(page["items"]) <= 4
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 23 and set(seen) == set(ids)
    created = [_get(svc, f"/v1/jobs/{j}").json()["created_at"] for j in seen]
    assert created == sorted(created, reverse=True)
    # filters
    assert _delete(svc, f"/v1/jobs/{ids[0]}").status_code == 200
    canceled = _get(svc, "/v1/jobs", params={"status": "canceled"}).json()["items"]
    assert [j["id"] for j in canceled] == [ids[0]]
    newest = _get(svc, f"/v1/jobs/{ids[-1]}").json()["created_at"]  # the newest not moved
    after = _get(svc, "/v1/jobs", params={"created_after": newest, "limit": 100}).json()["items"]
    assert {j["id"] for j in after} == set(ids[5:10])  # only the ones moved into the future
    assert _get(svc, "/v1/jobs", params={"limit": 0}).status_code == 400
    assert _get(svc, "/v1/jobs", params={"cursor": "%%%"}).status_code == 400


def test_result_and_image(stack):
    svc = stack
    img = imaging.label("RESULT 9")
    jid = svc.submit(img, name="r.png").json()["id"]
    job = svc.wait(jid)
    res = _get(svc, f"/v1/jobs/{jid}/result")
    assert res.status_code == 200 and res.json()["text"].strip() == "RESULT 9" == job["result"]["text"].strip()
    image = _get(svc, f"/v1/jobs/{jid}/image")
    assert image.status_code == 200 and image.content == img and image.headers["Content-Type"] == "image/png"


# ------------------------------------------------------------------ limits
def test_rate_limit_per_key_429_with_retry_after(inprocess):
    svc = inprocess(env={"OCRQ_RATE_PER_S": "1", "OCRQ_RATE_BURST": "3"})
    codes = [_get(svc, "/v1/jobs").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    r = _get(svc, "/v1/jobs")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert r.json()["type"] == "urn:ocrq:problem:rate_limited"
    # per key: another key of the same tenant has its own bucket
    assert _get(svc, "/v1/jobs", svc.new_key(svc.tenant)).status_code == 200
    time.sleep(int(r.headers["Retry-After"]) + 0.2)
    assert _get(svc, "/v1/jobs").status_code == 200


def test_backpressure_when_the_interactive_queue_is_full(inprocess):
    svc = inprocess(env={"OCRQ_INTERACTIVE_QUEUE_MAX": "2"})
    assert [svc.submit(_jpeg(20 + i)).status_code for i in range(2)] == [202, 202]
    r = svc.submit(_jpeg(30))
    assert r.status_code == 503 and r.headers["Retry-After"] and r.json()["type"] == "urn:ocrq:problem:queue_full"
    # bulk is not held back by the interactive queue; a retry of an accepted request still answers
    assert svc.submit(_jpeg(31), priority="bulk").status_code == 202
    rc = redis.Redis.from_url(svc.redis_url)
    assert rc.llen("interactive") == 2 and len(rc.keys("ocrq:job:*")) == 3


def test_body_limit_before_reading_also_chunked(make_service):
    svc = make_service(worker=False, env={"OCRQ_MAX_UPLOAD_BYTES": "2048"})
    big = _jpeg(40) + b"\0" * 4096  # over the limit but under the body bound: checked on the file part
    r = svc.submit(big)
    assert r.status_code == 413 and r.json()["type"] == "urn:ocrq:problem:payload_too_large"
    # far over: refused from Content-Length before the body is read
    r = requests.post(
        f"{svc.url}/v1/jobs",
        headers={**svc.headers(), "Content-Type": "multipart/form-data; boundary=x"},
        data=b"x" * 300_000,
        timeout=30,
    )
    assert r.status_code == 413 and r.headers["Content-Type"] == "application/problem+json"

    # chunked, no Content-Length: refused once the stream passes the bound
    def gen():
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        for _ in range(30):
            yield b"\xff" * 10_000
        yield b"\r\n--x--\r\n"

    r = requests.post(
        f"{svc.url}/v1/jobs",
        headers={**svc.headers(), "Content-Type": "multipart/form-data; boundary=x"},
        data=gen(),
        timeout=30,
    )
    assert r.request.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in r.request.headers
    assert r.status_code == 413 and r.json()["status"] == 413
    rc = redis.Redis.from_url(svc.redis_url)
    assert rc.llen("interactive") == 0 and not rc.keys("ocrq:job:*")
    # a chunked upload under the limit is accepted
    small = imaging.jpeg(40, 30, quality=50)
    assert len(small) < 2048

    def gen_ok():
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        yield small
        yield b"\r\n--x--\r\n"

    r = requests.post(
        f"{svc.url}/v1/jobs",
        headers={**svc.headers(), "Content-Type": "multipart/form-data; boundary=x"},
        data=gen_ok(),
        timeout=30,
    )
    assert r.status_code == 202, r.text


def test_multipage_tiff_is_a_document_and_too_many_pages_is_refused_clearly(inprocess):
    svc = inprocess(env={"OCRQ_MAX_PAGES": "3"})
    r = svc.submit(imaging.multipage_tiff(3), name="pages.tiff")
    assert r.status_code == 202, r.text
    assert r.json()["pages_total"] == 3 and r.json()["pages"] == [1, 2, 3]
    r = svc.submit(imaging.multipage_tiff(4), name="pages.tiff")
    assert r.status_code == 413
    body = r.json()
    assert body["type"] == "urn:ocrq:problem:too_many_pages" and "4" in body["detail"] and "3" in body["detail"]
    one = svc.submit(imaging.multipage_tiff(1), name="one.tiff")
    assert one.status_code == 202 and "pages_total" not in one.json()  # one page: an image job as before


def test_expired_job_answers_410(gateway):
    svc = gateway
    jid = svc.submit(_jpeg(50)).json()["id"]
    rc = redis.Redis.from_url(svc.redis_url)
    rc.hset(f"ocrq:job:{jid}", "expires_at", json.dumps(int(time.time() * 1000) - 1000))
    for path in ("", "/result", "/image"):
        r = _get(svc, f"/v1/jobs/{jid}{path}")
        assert r.status_code == 410 and r.json()["type"] == "urn:ocrq:problem:expired", path
    assert _delete(svc, f"/v1/jobs/{jid}").status_code == 410
    # the foreign-tenant rule still comes first: 404, never 410
    assert _get(svc, f"/v1/jobs/{jid}", svc.new_key(new_tenant("globex"))).status_code == 404
