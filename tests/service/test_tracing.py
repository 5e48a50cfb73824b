"""OpenTelemetry: one trace per job across the gateway, the queue, the OCR worker and the webhook
worker (shared/infra/tracing.py), exported as OTLP/HTTP protobuf to a receiver this file starts on
127.0.0.1 (tests/otlp_receiver.py decodes it with opentelemetry-proto); and nothing at all, not even
an import, with the variables unset."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import imaging
import pytest
import redis
import requests
from conftest import ROOT, Service, until
from documents_data import receipts_pdf
from otlp_receiver import OtlpReceiver, Span
from wms_receiver import Receiver

from shared.infra import keyspace

pytestmark = pytest.mark.slow

# Spans leave every process within a fifth of a second (the batch processor's delay).
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    rx = OtlpReceiver().start()
    yield rx
    rx.stop()


@pytest.fixture
def wms() -> Iterator[Receiver]:
    rx = Receiver().start()
    yield rx
    rx.stop()


def api(svc: Service, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, svc.url + path, headers=svc.headers(), timeout=10, **kw)


def names(spans: list[Span]) -> list[str]:
    return [s.name for s in spans]


def assert_one_connected_trace(spans: list[Span]) -> Span:
    """Every span's parent is in the trace but one root's; children start no earlier than parents
    (one machine, one clock); returns the root."""
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if s.parent_id not in by_id]
    assert len(roots) == 1, f"one root, got {[(r.name, r.role, r.parent_id) for r in roots]}"
    for s in spans:
        if s.parent_id in by_id:
            parent = by_id[s.parent_id]
            assert s.start_ns >= parent.start_ns, f"{s.name} ({s.role}) starts before its parent {parent.name}"
    return roots[0]


def chain(spans: list[Span], span: Span) -> list[str]:
    """The names from the root down to ``span``."""
    by_id = {s.span_id: s for s in spans}
    out = [span.name]
    while span.parent_id in by_id:
        span = by_id[span.parent_id]
        out.append(span.name)
    return out[::-1]


def first(spans: list[Span], name: str, **attrs: Any) -> Span:
    found = [s for s in spans if s.name == name and all(s.attributes.get(k) == v for k, v in attrs.items())]
    assert found, f"no span {name} {attrs} among {sorted(set(names(spans)))}"
    return found[0]


def test_an_image_job_and_a_3_page_document_each_make_one_trace_across_every_process(make_service, otlp, wms):
    svc = make_service(env={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, **FAST_EXPORT})
    svc.start_webhooks()
    r = api(svc, "POST", "/v1/webhooks", json={"url": wms.url("/hook")})
    assert r.status_code == 201, r.text
    wms.secrets["/hook"] = r.json()["secret"]

    submitted = {}
    for what, data, name in (("image", imaging.label("PALLET 42"), "p.png"), ("pdf", receipts_pdf(), "r.pdf")):
        r = svc.submit(data, name=name)
        assert r.status_code == 202, r.text
        tp = r.headers["traceparent"]
        version, trace_id, span_id, flags = tp.split("-")
        assert (version, len(trace_id), len(span_id), len(flags)) == ("00", 32, 16, 2)
        assert r.json()["trace_id"] == trace_id
        submitted[what] = (r.json()["id"], trace_id, span_id)

    for job_id, trace_id, _ in submitted.values():
        job = svc.wait(job_id)
        assert job["status"] == "succeeded", job
        assert job["trace_id"] == trace_id  # on the record, as GET shows it
    until(lambda: len(wms.accepted("/hook")) >= 2, 60, "both job.succeeded webhooks")

    # The WMS may continue the trace too: each delivery carries the job's trace in traceparent.
    by_job = {json.loads(s.body)["data"]["job"]["id"]: s.headers for s in wms.accepted("/hook")}
    for job_id, trace_id, _ in submitted.values():
        assert by_job[job_id]["traceparent"].split("-")[1] == trace_id

    for what, (job_id, trace_id, submit_span_id) in submitted.items():
        def complete(trace_id: str = trace_id) -> list[Span] | None:
            spans = otlp.trace(trace_id)
            return spans if "ocrq.webhook.attempt" in names(spans) and "ocrq.result.write" in names(spans) else None

        until(complete, 30, f"the {what} job's spans from every process")
        time.sleep(1.0)  # the last batches (the webhook task's run span ends after its attempt)
        spans = otlp.trace(trace_id)
        assert {s.role for s in spans} == {"api", "worker", "webhooks"}, what
        assert {s.service for s in spans} == {"ocrq-api", "ocrq-worker", "ocrq-webhooks"}
        root = assert_one_connected_trace(spans)
        assert (root.name, root.role, root.kind) == ("POST /v1/jobs", "api", "server")

        submit = first(spans, "ocrq.submit")
        assert submit.span_id == submit_span_id and submit.attributes["ocrq.job_id"] == job_id
        put, enqueue = first(spans, "ocrq.blob.put"), first(spans, "ocrq.enqueue")
        assert put.parent_id == enqueue.parent_id == submit.span_id
        assert put.end_ns <= enqueue.start_ns
        publish = first(spans, "apply_async/ocrq.run_job")
        assert (publish.kind, publish.role, publish.parent_id) == ("producer", "api", enqueue.span_id)
        run = first(spans, "run/ocrq.run_job")
        assert (run.kind, run.role, run.parent_id) == ("consumer", "worker", publish.span_id)

        claim = first(spans, "ocrq.claim")
        assert claim.role == "worker" and claim.attributes["ocrq.job_id"] == job_id
        assert chain(spans, claim)[:6] == ["POST /v1/jobs", "ocrq.submit", "ocrq.enqueue", "apply_async/ocrq.run_job",
                                           "run/ocrq.run_job", "ocrq.claim"]
        fetch = first(spans, "ocrq.fetch")
        engines = [s for s in spans if s.name == "ocrq.engine.run"]
        writes = [s for s in spans if s.name == "ocrq.result.write"]
        attempt = first(spans, "ocrq.webhook.attempt")
        assert attempt.role == "webhooks" and attempt.attributes["http.response.status_code"] == 200
        assert "run/ocrq.deliver_webhook" in chain(spans, attempt)
        for e in engines:
            assert e.attributes["ocrq.engine"] == "rapidocr" and e.attributes["ocrq.batch_size"] >= 1
        # causal order: submit, claim, fetch, engine, result, webhook
        assert submit.start_ns < claim.start_ns <= fetch.start_ns
        assert fetch.end_ns <= min(e.start_ns for e in engines)
        assert max(e.end_ns for e in engines) <= max(w.start_ns for w in writes) < attempt.start_ns
        if what == "image":
            assert len(engines) == 1 and engines[0].attributes["ocrq.batch_size"] == 1
        else:
            # the fan-out sends one message per page, each consumed in the job's trace, read alone
            pages = [s for s in spans if s.name == "run/ocrq.run_page"]
            assert len(pages) == 3 and all(p.role == "worker" for p in pages)
            assert len([s for s in spans if s.name == "apply_async/ocrq.run_page"]) == 3
            assert sorted(p for e in engines for p in e.attributes["ocrq.pages"]) == [1, 2, 3]
            assert all(any(n == "run/ocrq.run_page" for n in chain(spans, e)) for e in engines)
            assert len(writes) == 4  # three page results and the document's

    # No span that names one of these jobs lives in another trace.
    job_traces = {job_id: trace_id for job_id, trace_id, _ in submitted.values()}
    for s in otlp.all():
        if s.attributes.get("ocrq.job_id") in job_traces:
            assert s.trace_id == job_traces[s.attributes["ocrq.job_id"]], (s.name, s.role)


def test_a_message_lost_and_re_sent_by_the_reaper_continues_the_jobs_trace(make_service, otlp):
    """The reaper runs in the prefork worker's parent, which does not trace: its re-send carries the
    traceparent stored on the job, and the pool child's spans join the job's trace under the submit."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OCRQ_QUEUED_RESEND_S": "10", **FAST_EXPORT}
    svc = make_service(env=env, worker=False)
    r = svc.submit(imaging.label("PALLET 7"), name="p.png")
    assert r.status_code == 202, r.text
    job_id, trace_id, submit_span_id = r.json()["id"], *r.headers["traceparent"].split("-")[1:3]
    client = redis.Redis.from_url(svc.redis_url)
    assert client.delete("interactive") == 1  # the message is lost (as with a broker restart's last second)
    client.zadd(keyspace.JOBS_QUEUED, {job_id: 0})  # its send looks older than OCRQ_QUEUED_RESEND_S
    svc.start_worker()
    job = svc.wait(job_id, timeout=90)
    assert job["status"] == "succeeded" and job["trace_id"] == trace_id

    spans = until(lambda: (s := otlp.trace(trace_id)) and "ocrq.result.write" in names(s) and s, 30, "worker spans")
    time.sleep(1.0)
    spans = otlp.trace(trace_id)
    assert_one_connected_trace(spans)
    runs = [s for s in spans if s.name == "run/ocrq.run_job"]
    assert len(runs) == 1 and runs[0].parent_id == submit_span_id  # the stored context, as the message carried it
    assert [n for n in names(spans) if n.startswith("apply_async")] == ["apply_async/ocrq.run_job"]  # the gateway's
    for name in ("ocrq.claim", "ocrq.fetch", "ocrq.engine.run", "ocrq.result.write"):
        assert "run/ocrq.run_job" in chain(spans, first(spans, name)), name


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_with_the_variables_unset_nothing_is_exported_and_nothing_imported(make_service, redis_db, tmp_path):
    assert not any(k.startswith("OTEL_") for k in os.environ), "the test environment sets OTEL_* itself"
    # The OTLP/HTTP default endpoint is 127.0.0.1:4318: a process that traced would send there.
    rx = OtlpReceiver(port=4318).start() if _port_free(4318) else None
    try:
        svc = make_service(env={"OTEL_BSP_SCHEDULE_DELAY": "200"})  # an SDK setting alone turns nothing on
        r = svc.submit(imaging.label("PALLET 42"), name="p.png")
        assert r.status_code == 202, r.text
        assert "traceparent" not in r.headers and "trace_id" not in r.json()
        job = svc.wait(r.json()["id"])
        assert job["status"] == "succeeded" and "trace_id" not in job
        time.sleep(1.0)
        if rx is not None:
            assert rx.requests == 0 and rx.all() == []
    finally:
        if rx is not None:
            rx.stop()

    # The gateway, in a process of its own: app, a submit through it (queued for real), and not one
    # opentelemetry module, although the otel extra is installed (redis-py would import its SDK).
    code = textwrap.dedent("""
        import sys
        import api.wsgi  # what gunicorn imports: the app, built from the environment
        from shared.infra.redis_client import connect
        from shared.tenants import KeyStore
        key, _ = KeyStore(connect(sys.argv[1])).create("acme", "t")
        r = api.wsgi.app.test_client().post("/v1/jobs", headers={"Authorization": f"Bearer {key}"},
                                   data={"file": (open(sys.argv[2], "rb"), "label.png")})
        assert r.status_code == 202, r.data
        print("otel modules:", sorted(m for m in sys.modules if m.startswith("opentelemetry")))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OCRQ_REDIS_URL=redis_db, OCRQ_STORAGE_URL=f"file://{tmp_path / 'blobs'}")
    image = ROOT / "examples" / "label.png"
    off = subprocess.run([sys.executable, "-c", code, redis_db, str(image)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert off.returncode == 0, off.stderr[-3000:]
    assert "otel modules: []" in off.stdout
    # the same check sees them when tracing is on (an endpoint nobody listens on: nothing is sent in time)
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_EXPORTER_OTLP_TIMEOUT="1")
    on = subprocess.run([sys.executable, "-c", code, redis_db, str(image)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
    assert on.returncode == 0, on.stderr[-3000:]
    assert "'opentelemetry.sdk.trace'" in on.stdout
