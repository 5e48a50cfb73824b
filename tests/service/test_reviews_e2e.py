"""Human review end to end on real servers (issue 25, acceptance 1 and 5): a gunicorn gateway, a Celery worker
(RapidOCR and the barcode decoder), the webhook worker, Redis and a blob store.

20 generated warehouse labels (scripts/make_labels.py, faults planted) and 10 receipts submitted with a
confidence floor: exactly the faulty labels and the receipts with a line under the floor open reviews (the
confusion counts are printed); a reviewer resolves each, and each resolution gives one job.reviewed delivery to
a WMS that verifies it with the standardwebhooks library; revision 2 is served after a correction and revision
1 kept; the training export (through `ocrq reviews export`) validates against docs/review-line.schema.json,
has one line per approved or corrected review, and every box lies inside its image.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis
import requests
from conftest import until
from PIL import Image
from wms_receiver import Receiver

from shared.tenants import KeyStore
from shared.webhooks.outbox import msg_id_for

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import make_labels as ml  # noqa: E402

FLOOR = 0.9
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "review-line.schema.json").read_text())


def _bytes(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _labels() -> list[tuple[str, bytes, bool]]:
    """20 labels: the 15 of make_labels (3 with planted faults), and 5 again as JPEG (3 of them faulty)."""
    out = [(name, _bytes(im, "PNG"), bool(exp["reasons"])) for name, im, exp in ml.labels()]
    again = {n: (im, exp) for n, im, exp in ml.labels()}
    for name in ("gs1_128_sscc", "gs1_128_gtin_lot_expiry", "fault_check_digit", "fault_impossible_date",
                 "fault_text_mismatch"):
        im, exp = again[name]
        out.append((name + ".jpg", _bytes(im, "JPEG"), bool(exp["reasons"])))
    assert len(out) == 20
    return out


def _receipts() -> list[tuple[str, bytes]]:
    picked = [(n, im) for n, im, reason in ml.degraded_receipts(seed=11) if reason in (None, "blurred")][:10]
    if len(picked) < 10:
        pytest.skip("tests/data/receipts has fewer than 5 scans")
    return [(n, _bytes(im, "JPEG")) for n, im in picked]


@pytest.mark.slow
def test_faulty_and_low_confidence_jobs_are_reviewed_and_each_resolution_is_one_verified_webhook(
        make_service, tmp_path: Path) -> None:
    rx = Receiver().start()
    try:
        svc = make_service(env={"OCRQ_WEBHOOK_SCHEDULE_S": "0.2,0.2,0.2"})
        svc.start_webhooks()
        ep = requests.post(f"{svc.url}/v1/webhooks", headers=svc.headers(), timeout=10,
                           json={"url": rx.url("/wms"), "events": ["job.reviewed"]})
        assert ep.status_code == 201, ep.text
        rx.secrets["/wms"] = ep.json()["secret"]
        reviewer = KeyStore(redis.Redis.from_url(svc.redis_url)).create(svc.tenant, "Rita", scopes=("review",))[0]
        rev = {"Authorization": f"Bearer {reviewer}"}

        submitted = _submit_all(svc)
        jobs, expected_open = _routed(svc, submitted)
        queue = _queue(svc, rev)
        assert sorted(queue) == sorted(expected_open) and len(queue) == len(set(queue))
        t0 = time.monotonic()
        decisions, corrected_receipt = _resolve_all(svc, rev, queue, submitted, jobs)
        print(f"resolved {len(decisions)} reviews in {time.monotonic() - t0:.1f} s")
        _deliveries(rx, decisions)
        _revisions(svc, decisions)
        _export(svc, tmp_path, decisions, corrected_receipt)
    finally:
        rx.stop()


Submitted = dict[str, tuple[str, str, bool | None]]  # job id -> (label | receipt, name, label planted faulty)


def _submit_all(svc: Any) -> Submitted:
    submitted: Submitted = {}
    for name, data, faulty in _labels():
        r = svc.submit(data, name=name if "." in name else name + ".png", task="text")  # OCR + barcodes=auto
        assert r.status_code == 202, r.text
        submitted[r.json()["id"]] = ("label", name, faulty)
    for name, data in _receipts():
        r = svc.submit(data, name="receipt.jpg", task="spotting", review_below=str(FLOOR))
        assert r.status_code == 202, r.text
        submitted[r.json()["id"]] = ("receipt", name, None)
    return submitted


def _routed(svc: Any, submitted: Submitted) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Every job finished; exactly the planted faults and the receipts with a line under the floor opened."""
    t0 = time.monotonic()
    for jid, (_, name, _) in submitted.items():
        assert svc.wait(jid, timeout=300)["status"] == "succeeded", name
    # A review opens in the job's first finished-hook, just after its succeeded transition (and before its
    # job.succeeded event is written): read the jobs once every hook has run.
    r = redis.Redis.from_url(svc.redis_url)
    until(lambda: not any(r.zscore("ocrq:hooks_pending", jid) is not None for jid in submitted), 30, "the hooks")
    print(f"\n30 jobs done in {time.monotonic() - t0:.1f} s")
    confusion = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    expected_open: set[str] = set()
    jobs: dict[str, dict[str, Any]] = {}
    misses = []
    for jid, (kind, name, faulty) in submitted.items():
        job = requests.get(f"{svc.url}/v1/jobs/{jid}", headers=svc.headers(), timeout=10).json()
        job["result"] = requests.get(f"{svc.url}/v1/jobs/{jid}/result", headers=svc.headers(), timeout=10).json()
        jobs[jid] = job
        confidences = [ln["confidence"] for ln in job["result"]["lines"] if ln.get("confidence") is not None]
        expected = bool(faulty) if kind == "label" else any(c < FLOOR for c in confidences)
        opened = "review" in job
        confusion[("t" if expected == opened else "f") + ("p" if opened else "n")] += 1
        if expected != opened:
            misses.append((kind, name, expected, opened, job.get("review_reasons")))
        if expected:
            expected_open.add(jid)
        if opened and kind == "receipt":
            assert "low_confidence" in job["review"]["reasons"] and job["review"]["low_confidence"]
    receipts = sum(1 for j in expected_open if submitted[j][0] == "receipt")
    print(f"review routing over {len(submitted)} jobs (20 labels, 10 receipts, floor {FLOOR}): {confusion}; "
          f"receipts opened: {receipts}/10")
    assert confusion["fp"] == confusion["fn"] == 0, (confusion, misses)
    assert len(expected_open) - receipts == 6
    return jobs, expected_open


def _queue(svc: Any, rev: dict[str, str]) -> list[str]:
    """The open queue page by page (oldest first), as a reviewer sees it."""
    seen: list[str] = []
    cursor = None
    while True:
        page = requests.get(f"{svc.url}/v1/reviews", headers=rev, timeout=10,
                            params={"limit": 4, **({"cursor": cursor} if cursor else {})}).json()
        seen += [i["job_id"] for i in page["items"]]
        assert sum(page["counts"].values()) >= len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return seen


def _resolve_all(svc: Any, rev: dict[str, str], queue: list[str], submitted: Submitted,
                 jobs: dict[str, dict[str, Any]]) -> tuple[dict[str, str], str | None]:
    """The wrong check digit corrected (after a refused wrong one), one receipt rejected, one receipt line
    corrected, the rest approved."""
    decisions: dict[str, str] = {}
    corrected_receipt = None
    rejected = False
    for jid in queue:
        kind, name, _ = submitted[jid]
        assert requests.post(f"{svc.url}/v1/jobs/{jid}/review/claim", headers=rev, timeout=10).status_code == 200
        body: dict[str, Any] = {"decision": "approve"}
        if name.startswith("fault_check_digit"):
            bad = jobs[jid]["result"]["barcodes"][0]["gs1"]["elements"][0]["data"]
            wrong = requests.put(f"{svc.url}/v1/jobs/{jid}/review", headers=rev, timeout=10, json={
                "decision": "correct", "corrections": {"gs1": [{"barcode": 0, "ai": "00", "value": bad}]}})
            assert wrong.status_code == 422 and wrong.json()["type"] == "urn:ocrq:problem:invalid_gs1", wrong.text
            body = {"decision": "correct", "note": "SSCC from the shipping notice",
                    "corrections": {"gs1": [{"barcode": 0, "ai": "00", "value": ml.with_check_digit(bad[:17])}]}}
        elif kind == "receipt" and not rejected:
            body, rejected = {"decision": "reject", "reason": "rescan"}, True
        elif kind == "receipt" and corrected_receipt is None:
            body = {"decision": "correct", "corrections": {"lines": [{"index": 0, "text": "CORRECTED"}]}}
            corrected_receipt = jid
        r = requests.put(f"{svc.url}/v1/jobs/{jid}/review", headers=rev, timeout=10, json=body)
        assert r.status_code == 200, r.text
        decisions[jid] = body["decision"]
    return decisions, corrected_receipt


def _deliveries(rx: Receiver, decisions: dict[str, str]) -> None:
    """One verified job.reviewed delivery per resolution, with its deterministic webhook-id."""
    until(lambda: len(rx.accepted("/wms")) >= len(decisions), 60, "a job.reviewed delivery per resolution")
    time.sleep(1.0)  # nothing more arrives
    got = rx.accepted("/wms")
    assert len(got) == len(rx.of("/wms")) == len(decisions)
    by_job = {json.loads(s.body)["data"]["job"]["id"]: s for s in got}
    assert set(by_job) == set(decisions)
    for jid, s in by_job.items():
        body = json.loads(s.body)
        assert body["type"] == "job.reviewed" and body["data"]["decision"] == decisions[jid]
        assert s.headers["webhook-id"] == msg_id_for(jid, "job.reviewed")


def _revisions(svc: Any, decisions: dict[str, str]) -> None:
    """A correction is served as revision 2; the engine's stays revision 1."""
    for jid, decision in decisions.items():
        served = requests.get(f"{svc.url}/v1/jobs/{jid}/result", headers=svc.headers(), timeout=10).json()
        assert served["reviewed"] is True and served["revision"] == (2 if decision == "correct" else 1)
        if decision == "correct":
            first = requests.get(f"{svc.url}/v1/jobs/{jid}/result", params={"revision": 1}, headers=svc.headers(),
                                 timeout=10).json()
            assert first["revision"] == 1 and first != served


def _export(svc: Any, tmp_path: Path, decisions: dict[str, str], corrected_receipt: str | None) -> None:
    """`ocrq reviews export` through the gateway: one record per approved or corrected review, each valid
    against the schema in docs/, its image written, every box inside it."""
    from cli.main import main

    out = tmp_path / "export"
    assert main(["reviews", "export", "--since", "2020-01-01", "-o", str(out), "--url", svc.url,
                 "--api-key", svc.api_key]) == 0
    records = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert len(records) == sum(1 for d in decisions.values() if d in ("approve", "correct"))
    for rec in records:
        jsonschema.validate(rec, SCHEMA)
        with Image.open(out / rec["images"][0]) as im:
            w, h = im.size
        assert (w, h) == (rec["ocrq"]["width"], rec["ocrq"]["height"])
        for x0, y0, x1, y1 in (ln["box"] for ln in rec["ocrq"]["lines"]):
            assert 0 <= x0 <= x1 < w and 0 <= y0 <= y1 < h
    if corrected_receipt:
        rec = next(r for r in records if r["ocrq"]["job_id"] == corrected_receipt)
        assert rec["ocrq"]["revision"] == 2 and rec["messages"][1]["content"].startswith("CORRECTED(")
