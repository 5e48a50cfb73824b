"""The gateway in-process: create_app(settings, send_job=...) and Flask's test_client(), against a
real redis-server. Request validation and error mapping are checked here in milliseconds; the
end-to-end behaviour stays in the tests that run gunicorn and workers."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import imaging
import pytest
import redis
from PIL import Image
from problems import problem

from api.app import create_app
from cli.procs import free_port, start_redis, stop_all
from shared.infra import stats
from shared.infra.settings import load_settings
from shared.jobs.submit import IDEMPOTENCY_TTL_S, idempotency_name
from shared.tenants import KeyStore


@dataclass
class Gateway:
    client: object
    r: redis.Redis
    headers: dict[str, str]
    sent: list[tuple[str, str]] = field(default_factory=list)

    def submit(self, data: bytes, name: str = "a.jpg", headers: dict[str, str] | None = None, **form: str):
        return self.client.post("/v1/jobs", data={"file": (io.BytesIO(data), name), **form},  # type: ignore[attr-defined]
                                headers={**self.headers, **(headers or {})}, content_type="multipart/form-data")


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height), 255).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def gw(redis_db: str, tmp_path: Path) -> Iterator[Gateway]:
    settings = load_settings(redis_url=redis_db, storage_url=f"file://{tmp_path / 'blobs'}", interactive_queue_max=3)
    sent: list[tuple[str, str]] = []
    app = create_app(settings, send_job=lambda job_id, queue: sent.append((job_id, queue)))
    r = redis.Redis.from_url(redis_db)
    key = KeyStore(r).create("acme", "test")[0]
    yield Gateway(app.test_client(), r, {"Authorization": f"Bearer {key}"}, sent)


# ------------------------------------------------------------------ accepted, and domain errors mapped once
def test_submit_is_accepted_and_its_message_sent(gw: Gateway) -> None:
    resp = gw.submit(imaging.jpeg())
    assert resp.status_code == 202
    job = resp.get_json()
    assert gw.sent == [(job["id"], "interactive")]
    assert resp.headers["Location"] == f"/v1/jobs/{job['id']}"


def test_queue_full_is_503_with_retry_after_and_keeps_no_reservation(gw: Gateway) -> None:
    gw.r.rpush("interactive", "a", "b", "c")
    body = problem(gw.submit(imaging.jpeg(), headers={"Idempotency-Key": "k"}), 503, "queue_full")
    assert "3 interactive jobs" in body["detail"]
    assert not gw.r.keys("ocrq:idem:*")
    assert gw.submit(imaging.jpeg(), priority="bulk").status_code == 202  # the bulk lane is not bounded here


def test_idempotency_conflict_and_replay(gw: Gateway) -> None:
    first = gw.submit(imaging.jpeg(), headers={"Idempotency-Key": "k1"})
    again = gw.submit(imaging.jpeg(), headers={"Idempotency-Key": "k1"})
    assert first.status_code == 202 and again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json()["id"] == first.get_json()["id"]
    problem(gw.submit(imaging.jpeg(301, 200), headers={"Idempotency-Key": "k1"}), 409, "idempotency_key_reused")


def test_a_reservation_whose_job_never_got_stored_is_released_not_kept_for_a_day(gw: Gateway) -> None:
    """Redis killed between the reservation and the job record: the retry must not get 409 for 24 h."""
    name = idempotency_name("acme", "k-stale")
    assert name is not None
    # What the dead request left: its reservation, a minute old, for a job id that was never stored.
    stale = json.dumps({"fp": "whatever-it-was", "job_id": "job_never_stored", "at": 0})
    gw.r.set(name, stale, ex=IDEMPOTENCY_TTL_S)
    resp = gw.submit(imaging.jpeg(), headers={"Idempotency-Key": "k-stale"})
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert json.loads(gw.r.get(name))["job_id"] == resp.get_json()["id"]


# ------------------------------------------------------------------ bad input the fault suite found
@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/webhooks", "/v1/batches"])
@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 5_000 + "1" + "}" * 5_000])
def test_deeply_nested_json_bodies_are_400_naming_the_limit(gw: Gateway, path: str, body: str) -> None:
    resp = gw.client.post(path, data=body, headers=gw.headers, content_type="application/json")  # type: ignore[attr-defined]
    detail = problem(resp, 400, "json_too_deep")["detail"]
    assert "64 levels" in detail


@pytest.mark.parametrize("name", ["metadata", "fields"])
def test_deeply_nested_form_json_is_400(gw: Gateway, name: str) -> None:
    problem(gw.submit(imaging.jpeg(), **{name: "[" * 100_000}), 400, "json_too_deep")
    assert gw.sent == []


def test_a_manifest_line_nested_too_deep_is_400(gw: Gateway) -> None:
    KeyStore(gw.r).allow_bucket("acme", "scans")
    body = {"source": {"bucket": "scans", "manifest_text": '{"key": ' + "[" * 50_000 + "\n", "manifest_format": "jsonl"},
            "output": {"bucket": "scans", "prefix": "out/"}, "task": "text"}
    resp = gw.client.post("/v1/batches", json=body, headers=gw.headers)  # type: ignore[attr-defined]
    assert "manifest line 1" in problem(resp, 400, "json_too_deep")["detail"]


def test_a_huge_failures_cursor_is_400(gw: Gateway) -> None:
    KeyStore(gw.r).allow_bucket("acme", "scans")
    body = {"source": {"bucket": "scans", "manifest_text": "key\na.png\n"}, "output": {"bucket": "scans", "prefix": "o/"}}
    batch = gw.client.post("/v1/batches", json=body, headers=gw.headers).get_json()  # type: ignore[attr-defined]
    resp = gw.client.get(f"/v1/batches/{batch['id']}/failures?cursor=99999999999999999999999",  # type: ignore[attr-defined]
                         headers=gw.headers)
    problem(resp, 400, "invalid_query")


@pytest.mark.parametrize("size", [(1, 4000), (4000, 1), (2, 3000), (3000, 2)])
def test_images_no_engine_can_read_are_refused_at_submit(gw: Gateway, size: tuple[int, int]) -> None:
    body = problem(gw.submit(_png(*size), name="strip.png"), 422, "unreadable_shape")
    assert f"{size[0]}x{size[1]}" in body["detail"]
    assert gw.sent == [] and not gw.r.keys("ocrq:job:*")


# ------------------------------------------------------------------ counted, and outages
def test_a_cancel_is_counted_as_a_canceled_job(gw: Gateway) -> None:
    job = gw.submit(imaging.jpeg()).get_json()
    assert gw.client.delete(f"/v1/jobs/{job['id']}", headers=gw.headers).get_json()["status"] == "canceled"  # type: ignore[attr-defined]
    assert stats.read(gw.r).get("jobs:canceled") == 1.0
    metrics = gw.client.get("/metrics").get_data(as_text=True)  # type: ignore[attr-defined]
    assert 'ocrq_jobs_total{state="canceled"} 1.0' in metrics


def test_redis_down_is_503_with_retry_after_not_500(tmp_path: Path) -> None:
    port = free_port()
    proc = start_redis(tmp_path / "r", port)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        settings = load_settings(redis_url=url, storage_url=f"file://{tmp_path / 'blobs'}")
        app = create_app(settings, send_job=lambda job_id, queue: None)
        key = KeyStore(redis.Redis.from_url(url)).create("acme", "test")[0]
        client, headers = app.test_client(), {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/jobs", headers=headers).status_code == 200
        stop_all([proc])
        for path in ("/v1/jobs", "/v1/jobs/job_x", "/v1/jobs/job_x?wait=5"):
            resp = client.get(path, headers=headers)
            assert resp.status_code == 503, (path, resp.get_data(as_text=True))
            assert resp.headers["Retry-After"] == "2"
            assert resp.get_json()["type"] == "urn:ocrq:problem:service_unavailable"
        assert client.get("/healthz").status_code == 200  # liveness does not depend on Redis
    finally:
        stop_all([proc])



def test_the_api_docs_page_and_its_assets_come_from_the_gateway(gw: Gateway) -> None:
    page = gw.client.get("/docs")  # type: ignore[attr-defined]
    assert page.status_code == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert "http" not in html.replace("http-equiv", "")  # no CDN: every reference is local
    for src in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/init.js"):
        assert src in html
        assert gw.client.get(src).status_code == 200  # type: ignore[attr-defined]
    assert gw.client.get("/docs/assets/../../app.py").status_code == 404  # type: ignore[attr-defined]


def test_a_rotated_phone_photo_reports_its_upright_size(gw: Gateway) -> None:
    job = gw.submit(imaging.jpeg(1013, 463, exif_orientation=6)).get_json()
    assert (job["input"]["width"], job["input"]["height"]) == (463, 1013)  # as the result's boxes are


def test_heic_phone_photos_are_accepted(gw: Gateway) -> None:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), "white").save(buf, "HEIF")
    resp = gw.submit(buf.getvalue(), name="IMG_0001.HEIC")
    assert resp.status_code == 202, resp.get_data(as_text=True)
    assert resp.get_json()["input"]["content_type"] == "image/heic"


def test_the_job_list_filters_by_task_priority_and_creation_time(gw: Gateway) -> None:
    text = gw.submit(imaging.jpeg()).get_json()
    bulk = gw.submit(imaging.jpeg(301, 200), priority="bulk", task="spotting").get_json()

    def ids(query: str) -> list[str]:
        resp = gw.client.get(f"/v1/jobs?{query}", headers=gw.headers)  # type: ignore[attr-defined]
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return [j["id"] for j in resp.get_json()["items"]]

    assert ids("task=spotting") == [bulk["id"]]
    assert ids("priority=interactive") == [text["id"]]
    assert ids(f"created_before={bulk['created_at']}") == [text["id"]]
    assert ids("batch_id=bat_none") == []
    problem(gw.client.get("/v1/jobs?task=nope", headers=gw.headers), 400, "invalid_query")  # type: ignore[attr-defined]
    problem(gw.client.get("/v1/jobs?created_before=yesterday", headers=gw.headers), 400, "invalid_query")  # type: ignore[attr-defined]


def test_the_result_of_an_unfinished_job_is_404_retry_after_and_the_docs_say_so(gw: Gateway) -> None:
    job = gw.submit(imaging.jpeg()).get_json()
    waiting = gw.client.get(f"/v1/jobs/{job['id']}/result", headers=gw.headers)  # type: ignore[attr-defined]
    problem(waiting, 404, "result_not_available")
    assert waiting.headers["Retry-After"].isdigit()
    gw.client.delete(f"/v1/jobs/{job['id']}", headers=gw.headers)  # type: ignore[attr-defined]
    never = gw.client.get(f"/v1/jobs/{job['id']}/result", headers=gw.headers)  # type: ignore[attr-defined]
    problem(never, 409, "result_not_available")
    # docs/api.md tells integrators the same two answers (it once said 409 while unfinished).
    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    sentence = " ".join(docs[docs.index("`GET /v1/jobs/<id>/result` (the result document alone"):].split("),")[0].split())
    assert "`404 result_not_available` with `Retry-After` while the job is queued or running" in sentence
    assert "`409 result_not_available` once it failed or was canceled" in sentence


def test_a_413_states_the_upload_limit(redis_db: str, tmp_path: Path) -> None:
    settings = load_settings(redis_url=redis_db, storage_url=f"file://{tmp_path / 'blobs'}",
                             max_upload_bytes=200 * 1024)
    app = create_app(settings, send_job=lambda job_id, queue: None)
    key = KeyStore(redis.Redis.from_url(redis_db)).create("acme", "test")[0]
    client, headers = app.test_client(), {"Authorization": f"Bearer {key}"}
    over_file = imaging.jpeg() + b"\0" * (210 * 1024)  # the file part is over, the body still under
    over_body = imaging.jpeg() + b"\0" * (400 * 1024)  # refused before the form is parsed
    for data in (over_file, over_body):
        resp = client.post("/v1/jobs", data={"file": (io.BytesIO(data), "big.jpg")}, headers=headers,
                           content_type="multipart/form-data")
        body = problem(resp, 413, "payload_too_large")
        assert "200 KiB (204800 bytes)" in body["detail"], body
