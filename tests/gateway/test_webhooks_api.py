"""Webhook endpoints API, SSRF refusals at submit/registration, and the delivery path's own checks.

No test here connects anywhere: the gateway runs in process (conftest's make_inprocess_service,
Flask's test client on a real Redis), and the SSRF cases check the guard's decision (a 400, or a
refused attempt with a fake resolver and a fake sender).
"""

from __future__ import annotations

import json
import random

import imaging
import pytest
import redis as redis_lib
import requests

from shared.infra.settings import load_settings
from shared.jobs import InputRef, Job, Status, now_ms
from shared.webhooks.endpoints import EndpointStore
from shared.webhooks.events import emit_job_event
from shared.webhooks.outbox import DUE, Outbox, member, msg_id_for
from shared.webhooks.ssrf import Target
from workers.webhooks import sender
from workers.webhooks.dispatch import Dispatcher

UNSAFE = [
    "http://127.0.0.1/hook",
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/hook",
    "http://localhost/hook",  # a host name that resolves to loopback
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/hook",  # 127.0.0.1 with an octal first part
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:169.254.169.254]/latest/meta-data",
    "ftp://example.com/hook",
    "http://user:pw@example.com/hook",
]


def api(svc, method: str, path: str, **kw) -> requests.Response:
    return svc.http.request(method, svc.url + path, headers=svc.headers(), timeout=10, **kw)


# ---------------------------------------------------------------- gateway, no allowlist
def test_unsafe_urls_are_refused_at_submit_and_at_registration(make_inprocess_service):
    svc = make_inprocess_service(env={"OCRQ_WEBHOOK_ALLOW_PRIVATE": ""})
    image = imaging.label("X")
    for url in UNSAFE:
        r = svc.submit(image, name="x.png", webhook_url=url)
        assert r.status_code == 400, (url, r.text)
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert r.json()["type"] == "urn:ocrq:problem:unsafe_webhook_url" and "webhook_url refused" in r.json()["detail"]
        r = api(svc, "POST", "/v1/webhooks", json={"url": url})
        assert r.status_code == 400, (url, r.text)
        assert r.json()["type"] == "urn:ocrq:problem:unsafe_webhook_url"
    assert api(svc, "GET", "/v1/webhooks").json()["items"] == []
    assert api(svc, "GET", "/v1/jobs").json()["items"] == []


# ---------------------------------------------------------------- endpoints CRUD and secrets
def test_endpoint_lifecycle_secret_shown_once_and_default_secret(make_inprocess_service):
    svc = make_inprocess_service()
    url = "http://127.0.0.1:9/wms"  # allowed by the test allowlist; nothing ever connects here
    r = api(svc, "POST", "/v1/webhooks", json={"url": url, "events": ["job.succeeded", "batch.completed"],
                                               "description": "main WMS"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_") and created["events"] == ["job.succeeded", "batch.completed"]
    assert r.headers["Location"] == f"/v1/webhooks/{created['id']}"

    listed = api(svc, "GET", "/v1/webhooks").json()["items"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]
    one = api(svc, "GET", f"/v1/webhooks/{created['id']}").json()
    assert "secret" not in one and one["disabled"] is False and one["disabled_reason"] is None

    rot = api(svc, "POST", f"/v1/webhooks/{created['id']}/rotate-secret").json()
    assert rot["secret"].startswith("whsec_") and rot["secret"] != created["secret"]
    assert rot["secret_rotation_ends_at"] is not None  # both secrets sign until then

    for bad, code in [({"url": url, "events": ["job.done"]}, 422), ({"events": ["job.failed"]}, 422),
                      ({"url": url, "events": []}, 422), ({"url": url, "colour": "red"}, 422), ([], 400)]:
        r = api(svc, "POST", "/v1/webhooks", json=bad)
        assert r.status_code == code, (bad, r.text)
        assert r.headers["Content-Type"].startswith("application/problem+json")

    other = svc.new_key("globex")
    assert (
        svc.http.get(f"{svc.url}/v1/webhooks/{created['id']}", headers=svc.headers(other), timeout=10).status_code
        == 404
    )
    assert svc.http.get(f"{svc.url}/v1/webhooks", headers=svc.headers(other), timeout=10).json()["items"] == []
    assert svc.http.get(f"{svc.url}/v1/webhooks", timeout=10).status_code == 401

    r = api(svc, "POST", f"/v1/webhooks/{created['id']}/replay")
    assert r.status_code == 400  # since= is required
    r = api(svc, "POST", f"/v1/webhooks/{created['id']}/replay", params={"since": "yesterday"})
    assert r.status_code == 400

    assert api(svc, "DELETE", f"/v1/webhooks/{created['id']}").status_code == 204
    assert api(svc, "GET", f"/v1/webhooks/{created['id']}").status_code == 404

    # The default secret (for jobs' own webhook_url): created on first use, shown exactly once.
    first = api(svc, "POST", "/v1/webhooks/default-secret")
    assert first.status_code == 201 and first.json()["secret"].startswith("whsec_")
    again = api(svc, "POST", "/v1/webhooks/default-secret")
    assert again.status_code == 409 and again.json()["type"] == "urn:ocrq:problem:secret_already_revealed"
    rotated = api(svc, "POST", "/v1/webhooks/default-secret/rotate")
    assert rotated.status_code == 201 and rotated.json()["secret"] != first.json()["secret"]
    secrets = EndpointStore(redis_lib.Redis.from_url(svc.redis_url)).default_secrets(svc.tenant)
    assert secrets == [rotated.json()["secret"], first.json()["secret"]]  # both sign during the overlap

    # A job's deliveries: none yet for a job without webhooks; redeliver has nothing to send.
    job_id = svc.submit(imaging.label("Y"), name="y.png").json()["id"]
    assert api(svc, "GET", f"/v1/jobs/{job_id}/deliveries").json() == {
        "job_id": job_id,
        "events": [],
        "deliveries": [],
        "attempts": [],
    }
    assert api(svc, "POST", f"/v1/jobs/{job_id}/deliveries/redeliver").status_code == 409
    assert (
        svc.http.get(f"{svc.url}/v1/jobs/{job_id}/deliveries", headers=svc.headers(other), timeout=10).status_code
        == 404
    )


# ---------------------------------------------------------------- the delivery path, no Celery
class FakeSender:
    """Stands in for sender.deliver: records the pinned target, never opens a socket."""

    def __init__(self, *results: sender.Attempt) -> None:
        self.results = list(results) or [sender.Attempt(200, 3.0, None, None, "ok")]
        self.calls: list[tuple[Target, dict, bytes]] = []

    def __call__(self, target, headers, body, timeout_s):  # type: ignore[no-untyped-def]
        self.calls.append((target, dict(headers), body))
        return self.results[min(len(self.calls) - 1, len(self.results) - 1)]


def resolver_for(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


@pytest.fixture
def wh_settings(redis_db):
    return load_settings(
        redis_url=redis_db,
        webhook_allow_http=True,
        webhook_allow_private="",
        webhook_schedule_s="0.2,0.2,0.2",
        public_url="https://ocr.example",
    )


def make_job(status: Status = Status.succeeded, *, webhook_url: str | None = None, tenant: str = "acme") -> Job:
    ts = now_ms()
    return Job(
        id=f"job_t{random.randrange(10**9)}",
        tenant=tenant,
        status=status,
        webhook_url=webhook_url,
        input=InputRef(bucket="b", key="k", sha256="0" * 64, bytes=1, content_type="image/png", width=1, height=1),
        result_key="results/acme/x.json" if status == Status.succeeded else None,
        metadata={"order": "PO-1"},
        finished_at=ts,
        updated_at=ts,
    )


class FakeBlobs:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def get(self, key, *, bucket=None, max_bytes=None):  # type: ignore[no-untyped-def]
        if max_bytes is not None and len(self.data) > max_bytes:
            raise ValueError("too large")
        return self.data


RESULT = json.dumps(
    {
        "task": "text",
        "text": "HELLO",
        "lines": [],
        "engine": {"name": "x", "version": "1"},
        "image": {"width": 1, "height": 1},
    }
).encode()


def pending(ob: Outbox, msg_id: str, ep_id: str) -> tuple[str, int]:
    """Make the delivery due now and claim it the way the scheduler loop does."""
    ob.r.zadd(DUE, {member(msg_id, ep_id): 0})
    claimed = dict(ob.claim_due(10))
    return member(msg_id, ep_id), claimed[member(msg_id, ep_id)]


@pytest.mark.parametrize(
    "answers",
    [["127.0.0.1"], ["10.0.0.1"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"], ["93.184.216.34", "192.168.1.1"]],
)
def test_delivery_refuses_a_host_that_now_resolves_to_a_private_address(wh_settings, answers):
    """The URL passed at registration; DNS changed since. The attempt is refused, nothing connects."""
    r = redis_lib.Redis.from_url(wh_settings.redis_url)
    EndpointStore(r).create("acme", "https://wms.example/hook", ["job.succeeded"])
    fake = FakeSender()
    d = Dispatcher(wh_settings, r, resolver=resolver_for({"wms.example": answers}), deliver_fn=fake)
    job = make_job()
    msg_id, claimed = emit_job_event(d.outbox, job, None, claim=True)
    assert d.attempt(*claimed[0]) == "pending"
    assert fake.calls == []
    attempt = d.outbox.attempts(job.id)[0]
    assert attempt["status_code"] is None and attempt["error"].startswith("refused by the SSRF guard")


@pytest.mark.parametrize(
    "url", [u for u in UNSAFE if u.startswith("http://") and "localhost" not in u and "@" not in u]
)
def test_delivery_refuses_unsafe_literal_urls_stored_behind_the_apis_back(wh_settings, url):
    r = redis_lib.Redis.from_url(wh_settings.redis_url)
    fake = FakeSender()
    d = Dispatcher(wh_settings, r, resolver=resolver_for({}), deliver_fn=fake)
    job = make_job(webhook_url=url)
    _, claimed = emit_job_event(d.outbox, job, None, claim=True)
    for _ in range(4):  # the whole schedule: every attempt refused, then the delivery fails
        m, token = pending(d.outbox, msg_id_for(job.id, "job.succeeded"), "job")
        d.attempt(m, token)
    assert fake.calls == []
    doc = d.outbox.deliveries_of(msg_id_for(job.id, "job.succeeded"))[0]
    assert doc["status"] == "failed" and "SSRF" in doc["last_error"]


def test_delivery_connects_to_the_pinned_address_and_signs_with_every_active_secret(wh_settings):
    r = redis_lib.Redis.from_url(wh_settings.redis_url)
    store = EndpointStore(r)
    ep = store.create("acme", "https://wms.example/hook", ["job.succeeded"])
    new = store.rotate(ep)
    fake = FakeSender()
    d = Dispatcher(wh_settings, r, resolver=resolver_for({"wms.example": ["93.184.216.34"]}), deliver_fn=fake)
    job = make_job()
    msg_id, claimed = emit_job_event(d.outbox, job, FakeBlobs(RESULT), claim=True)
    assert d.attempt(*claimed[0]) == "delivered"
    target, headers, body = fake.calls[0]
    assert target.ip == "93.184.216.34" and target.host == "wms.example"
    assert headers["webhook-id"] == msg_id
    from shared.webhooks.signing import verify

    verify(ep.secret, headers, body)  # the old secret still verifies during the overlap
    verify(new, headers, body)
    assert len(headers["webhook-signature"].split()) == 2
    event = json.loads(body)
    assert event["data"]["result"]["text"] == "HELLO" and event["data"]["result_inline"] is True
    assert event["data"]["job"]["links"]["self"] == f"https://ocr.example/v1/jobs/{job.id}"
    # A duplicate message for the finished delivery does nothing.
    assert d.attempt(*claimed[0]) == "stale" and len(fake.calls) == 1


def test_event_is_written_once_with_a_deterministic_id(wh_settings):
    r = redis_lib.Redis.from_url(wh_settings.redis_url)
    EndpointStore(r).create("acme", "https://wms.example/hook", ["job.failed"])
    ob = Outbox(r, wh_settings)
    job = make_job(Status.failed, webhook_url="https://other.example/cb")
    first = emit_job_event(ob, job, None, claim=True)
    second = emit_job_event(ob, job, None, claim=True)  # the finished-hook run again (redelivered message)
    assert first[0] == second[0] == msg_id_for(job.id, "job.failed")
    assert len(first[1]) == 2 and second[1] == []  # two targets claimed once, nothing the second time
    events = ob.events_of(job.id)
    assert len(events) == 1 and json.loads(events[0].body)["sequence"] == events[0].sequence == 1
    assert r.zcard(DUE) == 2
    other = make_job(Status.failed)
    _, claimed = emit_job_event(ob, other, None)  # unclaimed (the gateway's way): due now for the scheduler loop
    assert claimed == [] and ob.due_score(msg_id_for(other.id, "job.failed"), "job") is None  # no webhook_url
    ep_id = EndpointStore(r).list("acme")[0].id
    assert ob.due_score(msg_id_for(other.id, "job.failed"), ep_id) <= now_ms()
    assert ob.events_of(other.id)[0].sequence == 2  # per-tenant sequence


def test_large_results_are_linked_not_inlined(wh_settings):
    r = redis_lib.Redis.from_url(wh_settings.redis_url)
    ob = Outbox(
        r, load_settings(redis_url=wh_settings.redis_url, webhook_inline_max_bytes=10, public_url="https://ocr.example")
    )
    job = make_job(webhook_url="https://wms.example/cb")
    msg_id, _ = emit_job_event(ob, job, FakeBlobs(RESULT), claim=True)
    data = json.loads(ob.event(msg_id).body)["data"]
    assert data["result"] is None and data["result_inline"] is False
    assert data["result_url"] == f"https://ocr.example/v1/jobs/{job.id}/result"


def test_retry_after_is_honoured_and_the_schedule_ends_in_a_disabled_endpoint(wh_settings):
    r = redis_lib.Redis.from_url(wh_settings.redis_url)
    store = EndpointStore(r)
    ep = store.create("acme", "https://wms.example/hook", ["job.succeeded"])
    busy = sender.Attempt(429, 2.0, None, 120.0, "slow down")
    fake = FakeSender(busy, sender.Attempt(500, 2.0, None, None, "boom"))
    d = Dispatcher(wh_settings, r, resolver=resolver_for({"wms.example": ["93.184.216.34"]}), deliver_fn=fake)
    job = make_job()
    msg_id, claimed = emit_job_event(d.outbox, job, None, claim=True)
    before = now_ms()
    assert d.attempt(*claimed[0]) == "pending"
    due = d.outbox.due_score(msg_id, ep.id)
    assert before + 115_000 <= due <= now_ms() + 121_000  # Retry-After beats the 0.2 s schedule
    for _ in range(3):
        d.attempt(*pending(d.outbox, msg_id, ep.id))
    assert len(fake.calls) == 4
    state = store.get(ep.id)
    assert state.disabled and "4 attempts" in state.disabled_reason and "HTTP 500" in state.disabled_reason
    assert d.outbox.delivery(msg_id, ep.id)["status"] == "failed" and d.outbox.due_score(msg_id, ep.id) is None
    # Events for a disabled endpoint are recorded as skipped, to be replayed once it is fixed.
    later = make_job()
    later_id, claimed = emit_job_event(d.outbox, later, None, claim=True)
    assert claimed == [] and d.outbox.delivery(later_id, ep.id)["status"] == "skipped"
