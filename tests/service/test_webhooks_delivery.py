"""Webhooks end to end: real Redis, the gateway, an OCR worker, the webhook worker, and receivers
this file starts on 127.0.0.1 that verify every delivery with the ``standardwebhooks`` library.

Every connection goes to a loopback server started here (the service's default allowlist is
127.0.0.0/8); every wait is bounded. Tests 1, 2 and 4 share one stack (conftest's module_service, a fresh
tenant and receiver each); the restart test and the one without an OCR worker start their own.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import imaging
import pytest
import requests
from conftest import Service, _kill_group
from conftest import until as _until_any
from wms_receiver import Receiver

SHORT = {"OCRQ_WEBHOOK_SCHEDULE_S": "0.2,0.2,0.2", "OCRQ_WEBHOOK_TIMEOUT_S": "2"}


@pytest.fixture
def receiver():
    rx = Receiver().start()
    yield rx
    rx.stop()


# ---------------------------------------------------------------- helpers
def until(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    # the gateway reconnecting to a restarted Redis answers with a dropped connection: not yet
    return _until_any(cond, timeout, what, every=0.1, retry_on=(requests.RequestException,))


def api(svc: Service, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, svc.url + path, headers=svc.headers(), timeout=10, **kw)


def register(svc: Service, url: str, events: list[str] | None = None) -> dict:
    body: dict[str, Any] = {"url": url}
    if events:
        body["events"] = events
    r = api(svc, "POST", "/v1/webhooks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def deliveries(svc: Service, job_id: str) -> dict:
    r = api(svc, "GET", f"/v1/jobs/{job_id}/deliveries")
    assert r.status_code == 200, r.text
    return r.json()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


# ---------------------------------------------------------------- 1. retries, one id, one acceptance
def test_500_twice_then_200_is_accepted_once_with_one_webhook_id(module_service, receiver):
    svc = module_service(env=SHORT, webhooks=True).for_new_tenant()
    r = api(svc, "POST", "/v1/webhooks/default-secret")
    assert r.status_code == 201, r.text
    receiver.secrets["/hook"] = r.json()["secret"]
    receiver.plans["/hook"] = [500, 500, 200]

    r = svc.submit(imaging.label("PALLET 42"), name="p.png", webhook_url=receiver.url("/hook"),
                   metadata=json.dumps({"order": "PO-7"}))
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert svc.wait(job_id)["status"] == "succeeded"
    until(lambda: receiver.accepted("/hook"), 30, "the accepted delivery")
    time.sleep(1.0)  # a wrongly scheduled 4th attempt would land in here

    seen = receiver.of("/hook")
    assert [s.status for s in seen] == [500, 500, 200]
    assert all(s.verified for s in seen), "every attempt verifies with standardwebhooks"
    assert len({s.headers["webhook-id"] for s in seen}) == 1
    assert len(receiver.accepted()) == 1

    event = json.loads(seen[-1].body)
    assert event["type"] == "job.succeeded" and event["sequence"] >= 1 and event["timestamp"].endswith("Z")
    assert event["data"]["job"]["id"] == job_id and event["data"]["job"]["metadata"] == {"order": "PO-7"}
    assert event["data"]["result_inline"] is True and "PALLET" in event["data"]["result"]["text"]
    assert all(s.body == seen[0].body for s in seen), "every attempt sends the same bytes"

    doc = until(lambda: (d := deliveries(svc, job_id))["deliveries"][0]["status"] == "delivered" and d, 10, "log")
    assert doc["events"][0]["webhook_id"] == seen[0].headers["webhook-id"]
    attempts = doc["attempts"]
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["latency_ms"] >= 0 and a["at"] and a["webhook_id"] == seen[0].headers["webhook-id"] for a in attempts)
    assert [a["outcome"] for a in attempts] == ["pending", "pending", "delivered"]
    assert doc["deliveries"][0]["attempts"] == 3 and doc["deliveries"][0]["target"] == "job_webhook_url"

    # Redeliver on request: the same webhook-id again, so the WMS can drop it as a duplicate.
    r = api(svc, "POST", f"/v1/jobs/{job_id}/deliveries/redeliver")
    assert r.status_code == 202 and r.json()["redelivered"] == 1
    until(lambda: len(receiver.accepted("/hook")) == 2, 15, "the redelivery")
    assert {s.headers["webhook-id"] for s in receiver.of("/hook")} == {seen[0].headers["webhook-id"]}


# ---------------------------------------------------------------- 2. receiver down, then replay
def test_receiver_down_for_the_whole_window_then_replay_delivers_each_event_once(module_service, receiver):
    svc = module_service(env=SHORT, webhooks=True).for_new_tenant()
    ep = register(svc, receiver.url("/wms"), ["job.succeeded", "job.failed"])
    receiver.secrets["/wms"] = ep["secret"]
    since = now_iso()
    port = receiver.port
    receiver.stop()  # down: nothing listens on its port any more

    ids = []
    for i in range(3):
        r = svc.submit(imaging.label(f"BOX {i}"), name=f"b{i}.png")
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    for job_id in ids:
        assert svc.wait(job_id)["status"] == "succeeded"

    def disabled():
        items = api(svc, "GET", "/v1/webhooks").json()["items"]
        return items[0]["disabled"] and items[0]

    state = until(disabled, 30, "the endpoint to be disabled after the schedule")
    assert "failing since" in state["disabled_reason"] and "connection refused" in state["disabled_reason"]
    # Every delivery has given up (failed, or skipped because the endpoint got disabled) and
    # the log shows the refused connections; the events themselves are all still there.
    def settled():
        docs = [deliveries(svc, j) for j in ids]
        return all(d["deliveries"] and d["deliveries"][0]["status"] in ("failed", "skipped") for d in docs) and docs
    docs = until(settled, 20, "every delivery to give up")
    expected = {d["events"][0]["webhook_id"] for d in docs}
    assert len(expected) == 3
    assert any(a["error"] == "connection refused" for d in docs for a in d["attempts"])

    back = Receiver(port=port, secrets={"/wms": ep["secret"]}).start()
    try:
        r = api(svc, "POST", f"/v1/webhooks/{ep['id']}/replay", params={"since": since})
        assert r.status_code == 202 and r.json()["replayed"] == 3, r.text
        until(lambda: len(back.accepted("/wms")) == 3, 20, "the replayed events")
        time.sleep(1.0)
        seen = back.of("/wms")
        assert len(seen) == 3 and {s.headers["webhook-id"] for s in seen} == expected
        assert all(s.verified for s in seen)
        assert not api(svc, "GET", "/v1/webhooks").json()["items"][0]["disabled"]
        # A second replay of the same window has nothing left to send: all delivered.
        r = api(svc, "POST", f"/v1/webhooks/{ep['id']}/replay", params={"since": since})
        assert r.json()["replayed"] == 0
    finally:
        back.stop()


# ---------------------------------------------------------------- 3. restarts lose nothing
def test_killing_the_webhook_worker_and_redis_mid_delivery_loses_no_event(make_service, receiver, redis_server):
    env = {"OCRQ_WEBHOOK_SCHEDULE_S": ",".join(["0.5"] * 40), "OCRQ_WEBHOOK_TIMEOUT_S": "2"}
    svc = make_service(env=env)
    svc.start_webhooks()
    ep = register(svc, receiver.url("/wms"))
    receiver.secrets["/wms"] = ep["secret"]
    receiver.plans["/wms"] = [503]
    receiver.delay_s = 0.7  # every attempt is in flight for a while

    ids = []
    for i in range(4):
        r = svc.submit(imaging.label(f"CRATE {i}"), name=f"c{i}.png")
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    for job_id in ids:
        assert svc.wait(job_id)["status"] == "succeeded"
    expected = set()
    for job_id in ids:
        doc = until(lambda j=job_id: (d := deliveries(svc, j))["attempts"] and d, 20, f"a first attempt for {job_id}")
        expected.add(doc["events"][0]["webhook_id"])
    assert len(expected) == 4
    time.sleep(1.2)  # appendfsync everysec: what is older than a second is on disk
    until(lambda: receiver.inflight > 0, 10, "a delivery in flight")

    _kill_group(svc.procs.pop("webhooks"), signal.SIGKILL)
    redis_server.restart()
    receiver.plans["/wms"] = [200]
    receiver.delay_s = 0.0
    svc.start_webhooks("webhooks2")

    until(lambda: {s.headers["webhook-id"] for s in receiver.accepted("/wms")} >= expected, 60,
          "every event after the restarts")
    assert {s.headers["webhook-id"] for s in receiver.accepted("/wms")} == expected
    for job_id in ids:
        until(lambda j=job_id: deliveries(svc, j)["deliveries"][0]["status"] == "delivered", 20, "delivered state")


# ---------------------------------------------------------------- 4. redirects, 410
def test_redirect_is_not_followed_and_410_disables_the_endpoint(module_service, receiver):
    svc = module_service(env=SHORT, webhooks=True).for_new_tenant()
    moved = register(svc, receiver.url("/moved"))
    gone = register(svc, receiver.url("/gone"))
    receiver.secrets.update({"/moved": moved["secret"], "/gone": gone["secret"]})
    receiver.plans.update({"/moved": [302], "/gone": [410]})

    r = svc.submit(imaging.label("RETURN"), name="r.png")
    job_id = r.json()["id"]
    assert svc.wait(job_id)["status"] == "succeeded"

    def both_disabled():
        items = {e["id"]: e for e in api(svc, "GET", "/v1/webhooks").json()["items"]}
        return items[moved["id"]]["disabled"] and items[gone["id"]]["disabled"] and items
    items = until(both_disabled, 30, "both endpoints disabled")
    assert "410" in items[gone["id"]]["disabled_reason"]
    assert "302" in items[moved["id"]]["disabled_reason"]
    assert len(receiver.of("/gone")) == 1, "410 stops at once"
    assert len(receiver.of("/moved")) == 4, "a 3xx is a failed attempt, retried per the schedule"
    assert receiver.of("/redirect-target") == [], "the redirect is never followed"
    attempts = deliveries(svc, job_id)["attempts"]
    assert any("not followed" in (a["error"] or "") for a in attempts if a["endpoint_id"] == moved["id"])


# ---------------------------------------------------------------- 5. job.canceled comes from the gateway
def test_canceling_a_queued_job_sends_job_canceled(make_service, receiver):
    svc = make_service(env=SHORT, worker=False)  # no OCR worker: the job stays queued
    svc.start_webhooks()
    ep = register(svc, receiver.url("/wms"), ["job.canceled"])
    receiver.secrets["/wms"] = ep["secret"]
    r = svc.submit(imaging.label("VOID"), name="v.png", metadata=json.dumps({"dock": 3}))
    job_id = r.json()["id"]
    r = api(svc, "DELETE", f"/v1/jobs/{job_id}")
    assert r.status_code == 200 and r.json()["status"] == "canceled", r.text
    seen = until(lambda: receiver.accepted("/wms"), 6, "job.canceled")  # the scheduler loop, not a lease
    event = json.loads(seen[0].body)
    assert event["type"] == "job.canceled" and event["data"]["job"]["id"] == job_id
    assert event["data"]["job"]["metadata"] == {"dock": 3} and event["data"]["result"] is None
