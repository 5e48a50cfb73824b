"""Every way a request can be wrong: problem+json with a stable type, never a stack trace, and
nothing stored or queued for a rejected upload.

The gateway runs in process (conftest's make_inprocess_service: create_app behind Flask's test
client, requests encoding each request as over the wire), on a real Redis and a real S3 server over
HTTP, with the real Celery sender: whatever a rejected request queued would be on the Redis lists.
What needs gunicorn itself (a body refused from its Content-Length, chunked uploads) is in
test_gateway.py."""

from __future__ import annotations

import imaging
import pytest
import redis
import requests

PROBLEM = "application/problem+json"

@pytest.fixture
def svc(make_inprocess_service, s3_server, s3_bucket):
    # Every gateway test on the S3 store, as production runs on MinIO. No worker: whatever a rejected
    # request might have queued would stay visible in Redis (a clean database per test).
    return make_inprocess_service(store_env=s3_server.env(s3_bucket), env={"OCRQ_MAX_UPLOAD_BYTES": str(256 * 1024), "OCRQ_RATE_BURST": "1000",
                                           "OCRQ_MAX_PAGES": "1"})


def _problem(r: requests.Response, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == PROBLEM, r.headers
    body = r.json()
    assert body["type"] == f"urn:ocrq:problem:{code}", body
    assert body["status"] == status and body["title"] and body["detail"]
    for needle in ("Traceback", 'File "', "Error(", "site-packages"):
        assert needle not in r.text
    return body


def _nothing_queued(svc) -> None:
    rc = redis.Redis.from_url(svc.redis_url)
    assert rc.llen("interactive") == 0 and rc.llen("bulk") == 0
    assert rc.keys("ocrq:job:*") == [] and rc.zcard("ocrq:unsent") == 0


def _post_json(svc, body, **kw) -> requests.Response:
    return svc.http.post(f"{svc.url}/v1/jobs", json=body, headers=svc.headers(), timeout=30, **kw)


def test_missing_and_revoked_key_401(svc):
    from shared.tenants import KeyStore

    _problem(svc.http.get(f"{svc.url}/v1/jobs", timeout=10), 401, "unauthorized")
    _problem(
        svc.http.get(f"{svc.url}/v1/jobs", headers={"Authorization": "Basic abc"}, timeout=10), 401, "unauthorized"
    )
    _problem(
        svc.http.get(f"{svc.url}/v1/jobs", headers={"Authorization": "Bearer nope"}, timeout=10), 401, "unauthorized"
    )
    ks = KeyStore(redis.Redis.from_url(svc.redis_url))
    clear, key = ks.create("acme", "to-revoke")
    assert svc.http.get(f"{svc.url}/v1/jobs", headers=svc.headers(clear), timeout=10).status_code == 200
    assert ks.revoke(key.id)
    _problem(svc.submit(imaging.jpeg(), key=clear), 401, "unauthorized")
    _nothing_queued(svc)


def test_other_tenants_job_404(svc):
    jid = svc.submit(imaging.jpeg()).json()["id"]
    other = svc.new_key("globex")
    _problem(svc.http.get(f"{svc.url}/v1/jobs/{jid}", headers=svc.headers(other), timeout=10), 404, "job_not_found")


def test_unknown_job_404(svc):
    _problem(svc.http.get(f"{svc.url}/v1/jobs/job_nosuchjob", headers=svc.headers(), timeout=10), 404, "job_not_found")
    _problem(svc.http.get(f"{svc.url}/v1/nothing", headers=svc.headers(), timeout=10), 404, "not_found")


def test_malformed_json_400(svc):
    r = svc.http.post(
        f"{svc.url}/v1/jobs",
        data=b'{"source": {',
        headers={**svc.headers(), "Content-Type": "application/json"},
        timeout=10,
    )
    _problem(r, 400, "malformed_json")
    _problem(_post_json(svc, ["not", "an", "object"]), 400, "malformed_json")
    _nothing_queued(svc)


BAD_BODIES = [
    ({"source": {"bucket": "b", "key": "k"}, "colour": "red"}, "colour"),
    ({"source": {"bucket": "b", "key": "k", "region": "x"}}, "source.region"),
    ({"source": {"bucket": 7, "key": "k"}}, "source.bucket"),
    ({"source": {"bucket": "b", "key": "k"}, "priority": "urgent"}, "priority"),
    ({"source": {"bucket": "b", "key": "k"}, "metadata": [1, 2]}, "metadata"),
    ({"source": {"bucket": "b", "key": "k"}, "fields": "total"}, "fields"),
    ({"task": "text"}, "source"),
]


def test_unknown_fields_and_wrong_types_422_name_the_field(svc):
    for body, field in BAD_BODIES:
        p = _problem(_post_json(svc, body), 422, "validation_error")
        assert p["detail"].startswith(f"{field}:") and any(e["field"] == field for e in p["errors"]), p
    _nothing_queued(svc)


def test_multipart_unknown_field_and_bad_priority_422(svc):
    p = _problem(svc.submit(imaging.jpeg(), colour="red"), 422, "validation_error")
    assert p["errors"][0]["field"] == "colour"
    p = _problem(svc.submit(imaging.jpeg(), priority="urgent"), 422, "validation_error")
    assert p["detail"].startswith("priority:")
    _nothing_queued(svc)


def test_wait_out_of_range_400(svc):
    jid = svc.submit(imaging.jpeg()).json()["id"]
    for wait in ("31", "30.5", "-1", "abc", "nan", "inf", "1e9", ""):
        r = svc.http.get(f"{svc.url}/v1/jobs/{jid}", params={"wait": wait}, headers=svc.headers(), timeout=10)
        _problem(r, 400, "invalid_wait")
    r = svc.http.get(f"{svc.url}/v1/jobs/{jid}", params={"wait": "0"}, headers=svc.headers(), timeout=10)
    assert r.status_code == 200 and r.headers["Retry-After"] == "1"


def test_source_bucket_not_allowed_403(svc):
    _problem(_post_json(svc, {"source": {"bucket": "someone-elses", "key": "a.jpg"}}), 403, "bucket_not_allowed")
    # ocrq's own bucket is not readable by reference either (it holds every tenant's inputs)
    _problem(_post_json(svc, {"source": {"bucket": "ocrq", "key": "inputs/globex/abc"}}), 403, "bucket_not_allowed")
    _nothing_queued(svc)


def test_idempotency_key_reused_with_a_different_body_409(svc):
    assert svc.submit(imaging.jpeg(300, 200), headers={"Idempotency-Key": "k1"}).status_code == 202
    _problem(svc.submit(imaging.jpeg(301, 200), headers={"Idempotency-Key": "k1"}), 409, "idempotency_key_reused")
    _problem(
        svc.submit(imaging.jpeg(300, 200), task="spotting", headers={"Idempotency-Key": "k1"}),
        409,
        "idempotency_key_reused",
    )
    _problem(svc.submit(imaging.jpeg(), headers={"Idempotency-Key": "x" * 300}), 400, "invalid_idempotency_key")
    assert len(redis.Redis.from_url(svc.redis_url).keys("ocrq:job:*")) == 1


BAD_UPLOADS = [
    (b"", "empty.jpg", 400, "empty_file"),
    (imaging.FAKE_PDF, "scan.jpg", 422, "damaged_document"),  # a PDF header, but no readable PDF
    (b"GIF89a" + b"\0" * 64, "a.gif", 415, "unsupported_media_type"),
    (imaging.png_bomb(), "bomb.png", 413, "too_many_pixels"),
    (imaging.truncated_jpeg(), "cut.jpg", 422, "corrupt_image"),
    (imaging.multipage_tiff(2), "two.tiff", 413, "too_many_pages"),  # over OCRQ_MAX_PAGES=1 below
    (imaging.jpeg() + b"\0" * (300 * 1024), "big.jpg", 413, "payload_too_large"),
]


def test_rejected_uploads_enqueue_nothing(svc):
    for data, name, status, code in BAD_UPLOADS:
        _problem(svc.submit(data, name=name), status, code)
        _problem(svc.submit(data, name=name, headers={"Idempotency-Key": name}), status, code)
        _nothing_queued(svc)
    # nothing stored either, in the service's own store: no input blob was written, no idempotency key kept
    assert [b.key for b in svc.blob_store().list("inputs/")] == []
    assert not redis.Redis.from_url(svc.redis_url).keys("ocrq:idem:*")


def test_missing_file_and_wrong_content_type(svc):
    r = svc.http.post(
        f"{svc.url}/v1/jobs", headers=svc.headers(), files={"image": ("a.jpg", imaging.jpeg())}, timeout=10
    )
    _problem(r, 400, "missing_file")
    r = svc.http.post(
        f"{svc.url}/v1/jobs", headers={**svc.headers(), "Content-Type": "image/jpeg"}, data=imaging.jpeg(), timeout=10
    )
    _problem(r, 415, "unsupported_media_type")
    _nothing_queued(svc)


def test_unknown_task_400_and_unsupported_task_for_the_engine_400(svc):
    p = _problem(svc.submit(imaging.jpeg(), task="summarize"), 400, "unknown_task")
    assert "text" in p["detail"]
    _problem(_post_json(svc, {"source": {"bucket": "b", "key": "k"}, "task": "summarize"}), 400, "unknown_task")
    p = _problem(svc.submit(imaging.jpeg(), task="translate", target_lang="en"), 400, "unsupported_task")
    assert "rapidocr" in p["detail"] and "translate" in p["detail"]
    _problem(svc.submit(imaging.jpeg(), task="fields"), 400, "invalid_task_params")
    _nothing_queued(svc)


def test_method_not_allowed_is_a_problem_too(svc):
    r = svc.http.put(f"{svc.url}/v1/jobs", headers=svc.headers(), timeout=10)
    _problem(r, 405, "method_not_allowed")
