"""Human review (issue 25), in process: create_app + test_client against a real redis-server, jobs finished
through the store's own transitions and routed by the finished-hook's review step.

Routing, the claim race (50 times, one winner), an expired claim reopening, scopes and tenants, every bad
input answered with nothing changed, result revisions (and exports following them), job.reviewed in the
outbox, the queue's order, cursor and counts, purge, metrics, and the training export against its schema.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import imaging
import jsonschema
import pytest
import redis
from PIL import Image
from problems import problem

from api.app import create_app
from shared.infra import keyspace
from shared.infra.blobs import BlobStore, result_key
from shared.infra.redis_client import as_str
from shared.infra.settings import Settings, load_settings
from shared.infra.storage import open_blob_store
from shared.jobs.model import InputRef, Job, Status, new_job_id, now_ms
from shared.jobs.store import JobStore
from shared.jobs.task_spec import TaskSpec
from shared.labels import gs1
from shared.reviews import training
from shared.reviews.routing import review_hook
from shared.tenants import KeyStore, digest
from shared.webhooks.outbox import msg_id_for

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "review-line.schema.json").read_text())
GOOD_SSCC = "376104250021234569"
BAD_SSCC = "376104250021234560"  # check digit should be 9


@dataclass
class Env:
    client: Any
    r: redis.Redis
    store: JobStore
    blobs: BlobStore
    settings: Settings
    keys: dict[str, dict[str, str]] = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return self.keys[who]

    def finish(self, *, tenant: str = "acme", lines: list[tuple[str, float]] | None = None, sscc: str | None = None,
               spec: TaskSpec | None = None, webhook_url: str | None = None, reasons: list[str] | None = None,
               width: int = 400, height: int = 300) -> Job:
        """A job run to succeeded through the store's transitions, then its finished review hook."""
        jid = new_job_id()
        job = Job(id=jid, tenant=tenant, spec=spec or TaskSpec(), webhook_url=webhook_url,
                  input=InputRef(bucket=self.blobs.bucket, key=f"inputs/{tenant}/{jid}", sha256="0" * 64, bytes=10,
                                 content_type="image/png", width=width, height=height))
        self.store.create(job)
        buf = io.BytesIO()
        Image.new("L", (width, height), 255).save(buf, "PNG")
        self.blobs.put(job.input.key, buf.getvalue(), "image/png")
        lines = lines if lines is not None else [("HELLO", 0.99), ("WORLD", 0.97)]
        result_lines = [{"text": t, "box": [10, 10 + 30 * i, 200, 35 + 30 * i], "confidence": c}
                        for i, (t, c) in enumerate(lines)]
        barcodes = None
        label_reasons = list(reasons or [])
        if sscc is not None:
            parsed = gs1.parse_element_string(f"(00){sscc}")
            barcodes = [{"format": "GS1_128", "text": f"(00){sscc}", "box": [10, 200, 300, 260], "gs1": parsed}]
            if parsed["errors"]:
                label_reasons.append("check_digit")
        text = "\n".join(t for t, _ in lines)
        result = {"task": job.spec.task, "text": text, "lines": result_lines, "barcodes": barcodes,
                  "engine": {"name": "test", "version": "1"}, "image": {"width": width, "height": height},
                  "pages": [{"page": 1, "width": width, "height": height, "text": text, "lines": result_lines}]}
        key = result_key(tenant, jid)
        self.blobs.put(key, json.dumps(result).encode(), "application/json")
        assert self.store.claim(jid, "w1", 60).applied
        assert self.store.succeed(jid, "w1", key, review_reasons=label_reasons or None).applied
        done = self.store.get(jid)
        assert done is not None
        review_hook(self.store, self.settings)(done)
        return self.store.get(jid)  # type: ignore[return-value]

    def claim(self, who: str, jid: str, **q: Any) -> Any:
        return self.client.post(f"/v1/jobs/{jid}/review/claim", headers=self.h(who), query_string=q)

    def resolve(self, who: str, jid: str, body: dict[str, Any]) -> Any:
        return self.client.put(f"/v1/jobs/{jid}/review", headers=self.h(who), json=body)

    def raw(self, jid: str) -> dict[bytes, bytes]:
        return dict(self.r.hgetall(keyspace.job(jid)))


@pytest.fixture
def env(redis_db: str, tmp_path: Path) -> Iterator[Env]:
    settings = load_settings(redis_url=redis_db, storage_url=f"file://{tmp_path / 'blobs'}",
                             public_url="https://ocr.example", rate_per_s=10000, rate_burst=10000)
    app = create_app(settings, send_job=lambda job_id, queue: None)
    r = redis.Redis.from_url(redis_db)
    ks = KeyStore(r)
    e = Env(app.test_client(), r, JobStore(r, settings.retention_s), open_blob_store(settings), settings)
    for who, tenant, name, scopes in (("alice", "acme", "Alice", ("review",)), ("bob", "acme", "Bob", ("review",)),
                                      ("admin", "acme", "Admin", None), ("scanner", "acme", "Scanner", ("submit",)),
                                      ("other", "globex", "Other", None)):
        clear = ks.create(tenant, name, scopes=scopes)[0]
        e.keys[who] = {"Authorization": f"Bearer {clear}"}
    yield e


# ------------------------------------------------------------------ routing
def test_routing_auto_always_off_and_the_confidence_floor(env: Env) -> None:
    clean = env.finish()
    assert clean.review is None and "review" not in env.client.get(f"/v1/jobs/{clean.id}", headers=env.h("admin")).get_json()
    faulty = env.finish(sscc=BAD_SSCC)
    assert faulty.review and faulty.review["state"] == "open" and faulty.review["reasons"] == ["check_digit"]
    off = env.finish(sscc=BAD_SSCC, spec=TaskSpec(review="off"))
    assert off.review is None and off.needs_review  # the label still says so; no review opens
    always = env.finish(spec=TaskSpec(review="always"))
    assert always.review and always.review["reasons"] == ["requested"]
    low = env.finish(lines=[("OK", 0.95), ("M4YBE", 0.41), ("FINE", 0.9)], spec=TaskSpec(review_below=0.6))
    assert low.review and low.review["reasons"] == ["low_confidence"]
    assert low.review["low_confidence"] == [{"page": 1, "line": 1, "confidence": 0.41}]
    assert low.review_reasons == ["low_confidence"] and low.needs_review
    # the tenant's default floor applies when the job names none; the job's own wins
    assert env.client.put("/v1/reviews/settings", headers=env.h("admin"), json={"review_below": 0.5}).status_code == 200
    assert env.finish(lines=[("X", 0.45)]).review is not None
    assert env.finish(lines=[("X", 0.45)], spec=TaskSpec(review_below=0.3)).review is None
    doc = env.client.get(f"/v1/jobs/{low.id}", headers=env.h("admin")).get_json()
    assert doc["status"] == "succeeded" and doc["review"]["state"] == "open"
    assert doc["params"] == {"review_below": 0.6}


def test_submit_takes_review_options_and_refuses_bad_ones(env: Env) -> None:
    ok = env.client.post("/v1/jobs", headers=env.h("admin"), content_type="multipart/form-data",
                         data={"file": (io.BytesIO(imaging.jpeg()), "a.jpg"), "review": "always",
                               "review_below": "0.7"})
    assert ok.status_code == 202, ok.get_json()
    assert ok.get_json()["params"] == {"review": "always", "review_below": 0.7}
    for form in ({"review": "sometimes"}, {"review_below": "1.5"}):
        bad = env.client.post("/v1/jobs", headers=env.h("admin"), content_type="multipart/form-data",
                              data={"file": (io.BytesIO(imaging.jpeg()), "a.jpg"), **form})
        assert bad.status_code == 422, bad.get_json()


# ------------------------------------------------------------------ claims
def test_two_reviewers_race_to_claim_one_job_fifty_times(env: Env) -> None:
    for _ in range(50):
        job = env.finish(sscc=BAD_SSCC)
        barrier = threading.Barrier(2)
        answers: dict[str, int] = {}

        def go(who: str, jid: str = job.id, b: threading.Barrier = barrier, out: dict[str, int] = answers) -> None:
            b.wait()
            out[who] = env.claim(who, jid).status_code

        threads = [threading.Thread(target=go, args=(w,)) for w in ("alice", "bob")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers.values()) == [200, 409], answers
        winner = "Alice" if answers["alice"] == 200 else "Bob"
        review = env.store.get(job.id).review  # type: ignore[union-attr]
        assert review["state"] == "claimed" and review["claimed_by"]["name"] == winner


def test_an_expired_claim_reopens_and_another_reviewer_may_take_it(env: Env) -> None:
    job = env.finish(sscc=BAD_SSCC)
    assert env.claim("alice", job.id, lease_s=30).status_code == 200
    held = env.claim("bob", job.id)
    assert held.status_code == 409
    p = problem(held, 409, "review_claimed")
    assert "Alice" in p["detail"] and "until" in p["detail"]
    # the lease runs out (time moved on: the stored lease is put in the past)
    block = env.store.get(job.id).review  # type: ignore[union-attr]
    block["lease_until"] = now_ms() - 1
    env.r.hset(keyspace.job(job.id), "review", json.dumps(block))
    listed = env.client.get("/v1/reviews?state=open", headers=env.h("bob")).get_json()
    assert [i["job_id"] for i in listed["items"]] == [job.id]
    assert listed["items"][0]["review"]["state"] == "open" and listed["items"][0]["review"]["claimed_by"] is None
    taken = env.claim("bob", job.id)
    assert taken.status_code == 200 and taken.get_json()["review"]["claimed_by"]["name"] == "Bob"
    assert env.claim("alice", job.id).status_code == 409


# ------------------------------------------------------------------ scopes and tenants
def test_scopes_and_tenants(env: Env) -> None:
    job = env.finish(sscc=BAD_SSCC)
    for resp in (env.client.get("/v1/reviews", headers=env.h("scanner")), env.claim("scanner", job.id),
                 env.resolve("scanner", job.id, {"decision": "approve"}),
                 env.client.get(f"/v1/jobs/{job.id}/review", headers=env.h("scanner"))):
        problem(resp, 403, "missing_scope")
    # review keys may not change the tenant's settings or export training data (admin)
    problem(env.client.put("/v1/reviews/settings", headers=env.h("alice"), json={"review_below": 0.4}), 403,
            "missing_scope")
    problem(env.client.get("/v1/reviews/export?since=2020-01-01T00:00:00Z", headers=env.h("alice")), 403,
            "missing_scope")
    # another tenant's review answers 404 and its queue does not show it
    for resp in (env.claim("other", job.id), env.resolve("other", job.id, {"decision": "approve"}),
                 env.client.get(f"/v1/jobs/{job.id}/review", headers=env.h("other"))):
        problem(resp, 404, "job_not_found")
    assert env.client.get("/v1/reviews", headers=env.h("other")).get_json()["items"] == []
    # a reviewer's key reads jobs but does not submit, cancel or manage webhooks; a scanner's submits
    assert env.client.get(f"/v1/jobs/{job.id}", headers=env.h("alice")).status_code == 200
    assert env.client.get(f"/v1/jobs/{job.id}/image", headers=env.h("alice")).status_code == 200
    upload = {"file": (io.BytesIO(imaging.jpeg()), "a.jpg")}
    problem(env.client.post("/v1/jobs", headers=env.h("alice"), data=upload, content_type="multipart/form-data"),
            403, "missing_scope")
    problem(env.client.delete(f"/v1/jobs/{job.id}?purge=true", headers=env.h("alice")), 403, "missing_scope")
    problem(env.client.post("/v1/webhooks", headers=env.h("scanner"), json={"url": "https://wms.example/h"}), 403,
            "missing_scope")
    upload = {"file": (io.BytesIO(imaging.jpeg()), "a.jpg")}
    assert env.client.post("/v1/jobs", headers=env.h("scanner"), data=upload,
                           content_type="multipart/form-data").status_code == 202
    # a key stored before scopes existed keeps working everywhere
    clear, _ = KeyStore(env.r).create("acme", "legacy")
    stored = json.loads(env.r.get(keyspace.api_key(digest(clear))))  # as written before scopes existed
    stored.pop("scopes")
    env.r.set(keyspace.api_key(digest(clear)), json.dumps(stored))
    legacy = {"Authorization": f"Bearer {clear}"}
    assert env.client.get("/v1/reviews", headers=legacy).status_code == 200
    assert env.client.get("/v1/reviews/settings", headers=legacy).status_code == 200


# ------------------------------------------------------------------ bad input: a 4xx saying what to fix, nothing changed
def test_every_bad_input_is_refused_and_changes_nothing(env: Env, tmp_path: Path) -> None:
    job = env.finish(sscc=BAD_SSCC)
    assert env.claim("alice", job.id).status_code == 200
    before = env.raw(job.id)
    blobs_before = sorted(p.name for p in (tmp_path / "blobs").rglob("*"))
    cases = [
        ({"decision": "correct", "corrections": {"lines": [{"index": 7, "text": "X"}]}}, 422, "unknown_line", "lines"),
        ({"decision": "correct", "corrections": {"gs1": [{"barcode": 0, "ai": "00", "value": "12AB"}]}}, 422,
         "invalid_gs1", "12AB"),
        ({"decision": "correct", "corrections": {"gs1": [{"barcode": 0, "ai": "00", "value": BAD_SSCC}]}}, 422,
         "invalid_gs1", "check"),
        ({"decision": "correct", "corrections": {"barcodes": [{"index": 0, "text": f"(00){BAD_SSCC}"}]}}, 422,
         "invalid_gs1", "check"),
        ({"decision": "correct", "corrections": {"gs1": [{"barcode": 3, "ai": "00", "value": GOOD_SSCC}]}}, 422,
         "unknown_barcode", "barcodes[3]"),
        ({"decision": "correct", "corrections": {"fields": {"nope": 1}}}, 422, "unknown_field", "nope"),
        ({"decision": "maybe"}, 422, "validation_error", "decision"),
        ({"decision": "approve", "note": "x" * 2001}, 422, "validation_error", "note"),
        ({"decision": "correct"}, 422, "invalid_decision", "corrections"),
        ({"decision": "reject"}, 422, "invalid_decision", "reason"),
        ({"decision": "approve", "corrections": {"lines": [{"index": 0, "text": "Y"}]}}, 422, "invalid_decision",
         "corrections"),
    ]
    for body, status, code, says in cases:
        p = problem(env.resolve("alice", job.id, body), status, code)
        assert says in p["detail"] or says in json.dumps(p.get("errors")), (body, p)
    # held by another reviewer
    p = problem(env.resolve("bob", job.id, {"decision": "approve"}), 409, "review_claimed")
    assert "Alice" in p["detail"]
    assert env.raw(job.id) == before
    assert sorted(p.name for p in (tmp_path / "blobs").rglob("*")) == blobs_before
    # a job without a review, and a running one
    clean = env.finish()
    problem(env.claim("alice", clean.id), 409, "no_review")
    problem(env.resolve("alice", clean.id, {"decision": "approve"}), 409, "no_review")
    running = Job(id=new_job_id(), tenant="acme", input=job.input)
    env.store.create(running)
    env.store.claim(running.id, "w1", 60)
    raw_running = env.raw(running.id)
    problem(env.claim("alice", running.id), 409, "job_not_reviewable")
    problem(env.resolve("alice", running.id, {"decision": "approve"}), 409, "job_not_reviewable")
    assert env.raw(running.id) == raw_running


# ------------------------------------------------------------------ resolving: revisions, exports, the event, finality
def test_a_correction_is_revision_two_served_with_exports_and_one_job_reviewed_event(env: Env) -> None:
    job = env.finish(sscc=BAD_SSCC, lines=[("PALLET 1", 0.99), ("SSCC 37610425002123456O", 0.5)],
                     webhook_url="https://wms.example/hook")
    assert env.claim("alice", job.id).status_code == 200
    body = {"decision": "correct", "note": "fixed from the printed label",
            "corrections": {"lines": [{"index": 1, "text": f"SSCC {GOOD_SSCC}"}],
                            "gs1": [{"barcode": 0, "ai": "00", "value": GOOD_SSCC}]}}
    resp = env.resolve("alice", job.id, body)
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert out["review"]["state"] == "resolved" and out["review"]["decision"] == "correct"
    assert out["review"]["resolved_by"]["name"] == "Alice" and out["review"]["revision"] == 2
    assert {d["path"] for d in out["diff"]} == {"lines[1].text", "barcodes[0].gs1.(00)"}
    served = env.client.get(f"/v1/jobs/{job.id}/result", headers=env.h("admin")).get_json()
    assert served["revision"] == 2 and served["reviewed"] is True
    assert served["lines"][1]["text"] == f"SSCC {GOOD_SSCC}" and GOOD_SSCC in served["text"]
    assert served["barcodes"][0]["gs1"]["fields"]["sscc"] == GOOD_SSCC and served["barcodes"][0]["gs1"]["valid"]
    engine = env.client.get(f"/v1/jobs/{job.id}/result?revision=1", headers=env.h("admin")).get_json()
    assert engine["revision"] == 1 and engine["reviewed"] is False and "37610425002123456O" in engine["text"]
    problem(env.client.get(f"/v1/jobs/{job.id}/result?revision=3", headers=env.h("admin")), 404, "revision_not_found")
    text = env.client.get(f"/v1/jobs/{job.id}/result?format=text", headers=env.h("admin"))
    assert text.status_code == 200 and GOOD_SSCC in text.get_data(as_text=True)
    old_text = env.client.get(f"/v1/jobs/{job.id}/result?format=text&revision=1", headers=env.h("admin"))
    assert "37610425002123456O" in old_text.get_data(as_text=True)
    # final: a second resolution, or a claim, is refused; the same reviewer's retry of the same decision
    # (its answer lost) is answered with the resolution it made, and writes no second event
    again = env.resolve("alice", job.id, body)
    assert again.status_code == 200 and again.get_json()["review"] == out["review"]
    assert again.get_json()["diff"] == out["diff"]
    problem(env.resolve("alice", job.id, {"decision": "approve"}), 409, "review_resolved")
    problem(env.resolve("bob", job.id, body), 409, "review_resolved")
    problem(env.claim("bob", job.id), 409, "review_resolved")
    # one job.reviewed event in the outbox, carrying the decision and the corrections
    evt = env.r.hgetall(keyspace.webhook_event(msg_id_for(job.id, "job.reviewed")))
    body = json.loads(evt[b"body"])
    assert body["type"] == "job.reviewed" and body["data"]["decision"] == "correct"
    assert body["data"]["revision"] == 2 and len(body["data"]["corrections"]) == 2
    assert body["data"]["job"]["review"]["state"] == "resolved"
    assert [as_str(m) for m in env.r.smembers(keyspace.webhook_subject(job.id))].count(
        msg_id_for(job.id, "job.reviewed")) == 1
    assert env.r.exists(keyspace.webhook_delivery(msg_id_for(job.id, "job.reviewed"), "job"))


def test_approve_and_reject_keep_revision_one(env: Env) -> None:
    a = env.finish(sscc=BAD_SSCC)
    b = env.finish(sscc=BAD_SSCC)
    assert env.resolve("alice", a.id, {"decision": "approve"}).status_code == 200  # open: resolved directly
    r = env.resolve("alice", b.id, {"decision": "reject", "reason": "rescan", "note": "label torn"})
    assert r.status_code == 200 and r.get_json()["review"]["reject_reason"] == "rescan"
    for jid, reviewed in ((a.id, True), (b.id, True)):
        served = env.client.get(f"/v1/jobs/{jid}/result", headers=env.h("admin")).get_json()
        assert served["revision"] == 1 and served["reviewed"] is reviewed
    assert env.store.get(a.id).status == Status.succeeded  # type: ignore[union-attr]


# ------------------------------------------------------------------ the queue
def test_the_queue_is_oldest_first_with_cursor_counts_and_filters(env: Env) -> None:
    jobs = [env.finish(sscc=BAD_SSCC) for _ in range(3)]
    low = env.finish(lines=[("X", 0.1)], spec=TaskSpec(review_below=0.5))
    env.finish()  # clean: not in the queue
    first = env.client.get("/v1/reviews?limit=2", headers=env.h("alice")).get_json()
    assert [i["job_id"] for i in first["items"]] == [jobs[0].id, jobs[1].id]
    assert first["counts"] == {"check_digit": 3, "low_confidence": 1}
    rest = env.client.get(f"/v1/reviews?limit=2&cursor={first['next_cursor']}", headers=env.h("alice")).get_json()
    assert [i["job_id"] for i in rest["items"]] == [jobs[2].id, low.id] and rest["next_cursor"] is None
    only_low = env.client.get("/v1/reviews?reason=low_confidence", headers=env.h("alice")).get_json()
    assert [i["job_id"] for i in only_low["items"]] == [low.id]
    env.claim("alice", jobs[0].id)
    env.resolve("bob", jobs[1].id, {"decision": "approve"})
    states = {s: [i["job_id"] for i in env.client.get(f"/v1/reviews?state={s}", headers=env.h("alice"))
                  .get_json()["items"]] for s in ("open", "claimed", "resolved")}
    assert states == {"open": [jobs[2].id, low.id], "claimed": [jobs[0].id], "resolved": [jobs[1].id]}
    problem(env.client.get("/v1/reviews?state=lost", headers=env.h("alice")), 400, "invalid_query")
    problem(env.client.get("/v1/reviews?cursor=zzz", headers=env.h("alice")), 400, "invalid_query")


# ------------------------------------------------------------------ purge, metrics, training export
def test_purge_removes_the_review_and_its_revision(env: Env, tmp_path: Path) -> None:
    job = env.finish(sscc=BAD_SSCC)
    env.resolve("alice", job.id, {"decision": "correct", "corrections": {"lines": [{"index": 0, "text": "HI"}]}})
    rev_key = env.store.get(job.id).review["revision_key"]  # type: ignore[union-attr]
    assert env.blobs.stat(rev_key) is not None
    assert env.client.delete(f"/v1/jobs/{job.id}?purge=true", headers=env.h("admin")).status_code in (200, 204)
    assert env.blobs.stat(rev_key) is None
    assert env.r.zscore(keyspace.tenant_reviews("acme"), job.id) is None
    assert env.r.zscore(keyspace.tenant_reviews_pending("acme"), job.id) is None


def test_metrics_count_open_reviews_decisions_and_time_to_resolve(env: Env) -> None:
    a = env.finish(sscc=BAD_SSCC)
    env.finish(lines=[("X", 0.1)], spec=TaskSpec(review_below=0.5))
    env.resolve("alice", a.id, {"decision": "correct", "corrections": {"lines": [{"index": 0, "text": "HI"}]}})
    text = env.client.get("/metrics").get_data(as_text=True)
    assert 'ocrq_reviews_open{reason="low_confidence"} 1.0' in text
    assert 'ocrq_reviews_resolved_total{decision="correct"} 1.0' in text
    assert 'ocrq_review_corrections_total{decision="correct"} 1.0' in text
    assert "ocrq_review_open_seconds_count 1.0" in text


def test_training_export_validates_against_the_schema_with_boxes_inside_the_image(env: Env) -> None:
    a = env.finish(sscc=BAD_SSCC, lines=[("PALLET", 0.9), ("LOT A1", 0.8)], width=400, height=300)
    b = env.finish(sscc=BAD_SSCC)
    c = env.finish(sscc=BAD_SSCC)
    env.resolve("alice", a.id, {"decision": "correct", "corrections": {"lines": [{"index": 1, "text": "LOT B2"}]}})
    env.resolve("alice", b.id, {"decision": "approve"})
    env.resolve("alice", c.id, {"decision": "reject", "reason": "rescan"})  # not training data
    resp = env.client.get("/v1/reviews/export?since=2020-01-01T00:00:00Z", headers=env.h("admin"))
    assert resp.status_code == 200, resp.get_json()
    out = resp.get_json()
    assert out["count"] == 2 and out["format"].startswith("sharegpt")
    for rec in out["records"]:
        jsonschema.validate(rec, SCHEMA)
        w, h = rec["ocrq"]["width"], rec["ocrq"]["height"]
        assert all(0 <= x0 <= x1 < w and 0 <= y0 <= y1 < h for x0, y0, x1, y1 in (ln["box"] for ln in rec["ocrq"]["lines"]))
        assert rec["links"]["image"].startswith("https://ocr.example/v1/jobs/")
    corrected = next(r for r in out["records"] if r["ocrq"]["job_id"] == a.id)
    assert corrected["ocrq"]["revision"] == 2
    assert corrected["messages"][1]["content"].splitlines()[1].startswith("LOT B2(")
    assert corrected["messages"][0]["content"] == "<image>" + training.SPOTTING_PROMPT
    later = env.client.get("/v1/reviews/export?since=2999-01-01T00:00:00Z", headers=env.h("admin")).get_json()
    assert later["count"] == 0


def test_training_prompts_are_the_engines_own() -> None:
    from models import prompts

    table = prompts.PROMPTS_BY_VERSION["1.5"]
    assert training.SPOTTING_PROMPT == table["spotting"] and training.TEXT_PROMPT == table["text"]
    assert training.FIELDS_TEMPLATE == prompts.FIELDS_TEMPLATE


def test_cli_export_writes_jsonl_and_the_images_it_names(env: Env, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.main import main

    a = env.finish(sscc=BAD_SSCC, width=320, height=240)
    env.resolve("alice", a.id, {"decision": "correct", "corrections": {"lines": [{"index": 0, "text": "HI"}]}})
    b = env.finish(sscc=BAD_SSCC)
    env.resolve("alice", b.id, {"decision": "approve"})
    env.finish(sscc=BAD_SSCC)  # still open: not exported
    monkeypatch.setenv("OCRQ_REDIS_URL", env.settings.redis_url)
    monkeypatch.setenv("OCRQ_STORAGE_URL", f"file://{tmp_path / 'blobs'}")
    out = tmp_path / "export"
    assert main(["reviews", "export", "--since", "2020-01-01", "--tenant", "acme", "-o", str(out)]) == 0
    records = [json.loads(x) for x in (out / "train.jsonl").read_text().splitlines()]
    assert sorted(r["ocrq"]["job_id"] for r in records) == sorted([a.id, b.id])
    for rec in records:
        jsonschema.validate(rec, SCHEMA)
        with Image.open(out / rec["images"][0]) as im:
            w, h = im.size
        assert (w, h) == (rec["ocrq"]["width"], rec["ocrq"]["height"])
        assert all(0 <= x0 <= x1 < w and 0 <= y0 <= y1 < h for x0, y0, x1, y1 in (ln["box"] for ln in rec["ocrq"]["lines"]))
    with pytest.raises(SystemExit):
        main(["reviews", "export", "--since", "last tuesday", "--tenant", "acme", "-o", str(out)])


def test_expiry_removes_the_review_its_revision_and_its_index_entries(env: Env) -> None:
    from workers.reaper import expire_once

    job = env.finish(sscc=BAD_SSCC)
    env.resolve("alice", job.id, {"decision": "correct", "corrections": {"lines": [{"index": 0, "text": "HI"}]}})
    open_one = env.finish(sscc=BAD_SSCC)
    rev_key = env.store.get(job.id).review["revision_key"]  # type: ignore[union-attr]
    assert expire_once(env.store, env.blobs, now=now_ms() + env.settings.retention_s * 1000 + 60_000) >= 2
    assert env.blobs.stat(rev_key) is None
    for jid in (job.id, open_one.id):
        assert env.r.zscore(keyspace.tenant_reviews("acme"), jid) is None
        assert env.r.zscore(keyspace.tenant_reviews_pending("acme"), jid) is None
    assert env.client.get("/v1/reviews", headers=env.h("alice")).get_json()["items"] == []


def test_review_options_leave_the_fingerprints_of_jobs_without_them_as_they_were() -> None:
    from shared.batches.model import fingerprint

    assert set(TaskSpec().model_dump(mode="json")) == {"task", "fields", "target_lang", "instruction", "barcodes"}
    # the fingerprint of a plain text item, as computed before the review options existed
    before = "466e8b9db91c3fc15f2e63945e5ad544379f6b09568d3d3aa4f36f86920ad3fc"
    assert fingerprint("0" * 64, TaskSpec(), "rapidocr", "1") == before
    assert fingerprint("0" * 64, TaskSpec(review="auto"), "rapidocr", "1") == before
    assert TaskSpec(review="off", review_below=0.5).model_dump()["review"] == "off"
    assert fingerprint("0" * 64, TaskSpec(), "rapidocr", "1") != fingerprint("0" * 64, TaskSpec(review="off"),
                                                                              "rapidocr", "1")


def test_documents_are_looked_at_and_corrected_per_page() -> None:
    from shared.api_schemas.reviews import Corrections
    from shared.reviews import corrections
    from shared.reviews.model import UnknownLine
    from shared.reviews.routing import low_lines

    def page(n: int, conf: list[float]) -> dict[str, Any]:
        lines = [{"text": f"p{n} l{i}", "box": [0, 0, 5, 5], "confidence": c} for i, c in enumerate(conf)]
        return {"page": n, "width": 10, "height": 10, "text": "\n".join(x["text"] for x in lines), "lines": lines}

    doc = {"task": "text", "text": "", "lines": [], "pages": [page(1, [0.99, 0.98]), page(2, [0.97, 0.3, 0.2])]}
    assert low_lines(doc, 0.5) == [{"page": 2, "line": 1, "confidence": 0.3}, {"page": 2, "line": 2, "confidence": 0.2}]
    doc["text"] = "\f".join(p["text"] for p in doc["pages"])
    fixed, diff = corrections.apply(doc, Corrections.model_validate({"lines": [{"page": 2, "index": 1, "text": "OK"}]}))
    assert fixed["pages"][1]["lines"][1]["text"] == "OK" and "OK" in fixed["pages"][1]["text"] and "OK" in fixed["text"]
    assert diff == [{"path": "pages[2].lines[1].text", "from": "p2 l1", "to": "OK"}]
    assert doc["pages"][1]["lines"][1]["text"] == "p2 l1"  # the engine's result is left as it was
    for bad in ({"page": 3, "index": 0, "text": "X"}, {"page": 2, "index": 3, "text": "X"}):
        with pytest.raises(UnknownLine):
            corrections.apply(doc, Corrections.model_validate({"lines": [bad]}))
