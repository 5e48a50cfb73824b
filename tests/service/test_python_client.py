"""The Python client (clients/python, ``ocrq_client``) against a real stack: redis-server, the gateway,
a CPU worker and the webhook worker (conftest's make_service), and its retries against a loopback
stand-in that answers 429/503 on cue.

Round trip: submit with an Idempotency-Key twice (one job), wait on the long-poll, the result as
JSON, text and a searchable PDF, the job list page by page, a backfill of the local store's bucket
folder (dry run, then the batch to completion), and the webhooks of both verified with
``verify_webhook`` (and by the ``standardwebhooks`` library, in tests/wms_receiver.py).
"""

from __future__ import annotations

import email.utils
import json
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest
import redis as redis_lib
from conftest import ROOT
from wms_receiver import Receiver, Seen

from cli.procs import free_port
from ocrq_client import (
    ApiError,
    Client,
    JobTimeout,
    TransportError,
    WebhookVerificationError,
    verify_webhook,
)
from ocrq_client.models import BatchOut, DryRunOut, JobOut, OcrResult
from shared.tenants import KeyStore
from tests.loopback_http import LoopbackServer

CLIENT = ROOT / "clients" / "python"
RECEIPT = ROOT / "examples" / "receipt.jpg"
LABEL = ROOT / "examples" / "label.png"


def _delivered(rx: Receiver, path: str, timeout: float = 60) -> list[Seen]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = rx.accepted(path)
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"no verified delivery to {path} in {timeout} s: {rx.seen}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver().start()
    yield rx
    rx.stop()


@pytest.mark.slow
def test_the_client_round_trips_against_a_real_stack(make_service, receiver: Receiver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    svc = make_service()
    KeyStore(redis_lib.Redis.from_url(svc.redis_url)).allow_bucket(svc.tenant, "scans")
    svc.start_webhooks()  # deliveries, and the batch planner
    with Client(svc.url, svc.api_key) as client:
        secret = client.default_webhook_secret()
        receiver.secrets.update({"/wms/jobs": secret, "/wms/batches": secret})

        # the same scan sent twice with one key (a scanner that never saw the first answer): one job
        key = f"PDA-17-{uuid.uuid4().hex}"
        first = client.submit(RECEIPT, task="text", idempotency_key=key, metadata={"order": "PO-7"},
                              webhook_url=receiver.url("/wms/jobs"))
        again = client.submit(RECEIPT.read_bytes(), filename="receipt.jpg", task="text", idempotency_key=key,
                              metadata={"order": "PO-7"}, webhook_url=receiver.url("/wms/jobs"))
        assert isinstance(first, JobOut) and first.status in ("queued", "running", "succeeded")
        assert again.id == first.id
        with pytest.raises(ApiError) as reused:  # the same key with other options is refused, by its code
            client.submit(RECEIPT, task="spotting", idempotency_key=key)
        assert reused.value.status == 409 and reused.value.code == "idempotency_key_reused"

        job = client.wait(first.id, timeout=120)
        assert job.status == "succeeded" and job.metadata.to_dict() == {"order": "PO-7"}
        assert job.result is not None and job.result.text.strip()

        # the models carry everything the gateway sent: the CLI prints them back as JSON
        raw = httpx.get(f"{svc.url}/v1/jobs/{first.id}", headers=svc.headers(), timeout=30).json()
        assert client.job(first.id).to_dict() == raw

        result = client.result(first.id)
        assert isinstance(result, OcrResult) and result.text == job.result.text
        assert json.loads(client.result_bytes(first.id)) == result.to_dict()
        assert client.result(first.id, "text").decode().strip() == job.result.text.strip()
        pdf = client.result(first.id, "pdf")
        assert pdf.startswith(b"%PDF-")
        (tmp_path / "receipt.ocr.pdf").write_bytes(pdf)
        assert len(pdfium.PdfDocument(str(tmp_path / "receipt.ocr.pdf"))) == 1

        # the list, one job per page (cursor pagination), newest first; the replayed submit made none
        second = client.wait(client.submit(LABEL, task="spotting").id, timeout=120)
        assert [j.id for j in client.iter_jobs(page_size=1)] == [second.id, first.id]
        assert [j.id for j in client.iter_jobs(task="spotting")] == [second.id]

        with pytest.raises(ApiError) as missing:
            client.job("job_" + "x" * 27)
        assert missing.value.status == 404 and missing.value.code == "job_not_found"
        with pytest.raises(JobTimeout):
            client.wait(client.submit(LABEL, task="text", priority="bulk").id, timeout=0)

        # the job's webhook: signed with the tenant's default secret, verified here and by the library
        seen = _delivered(receiver, "/wms/jobs")[0]
        event = verify_webhook(seen.headers, seen.body, secret)
        assert event["type"] == "job.succeeded" and event["data"]["job"]["id"] == first.id
        assert event["data"]["job"]["metadata"] == {"order": "PO-7"}
        assert Client.verify_webhook(seen.headers, seen.body, ["whsec_" + "A" * 44, secret]) == event  # rotation
        for headers, body, key_, why in (
            (seen.headers, seen.body.replace(b"PO-7", b"PO-8"), secret, "no signature matches"),
            (seen.headers, seen.body, "whsec_" + "A" * 44, "no signature matches"),
            ({k: v for k, v in seen.headers.items() if k != "webhook-signature"}, seen.body, secret, "missing"),
        ):
            with pytest.raises(WebhookVerificationError, match=why):
                verify_webhook(headers, body, key_)
        with pytest.raises(WebhookVerificationError, match="tolerance"):
            verify_webhook(seen.headers, seen.body, secret, now=int(seen.headers["webhook-timestamp"]) + 600)

        # backfill a folder of the local store's bucket "scans"
        archive = tmp_path / "blobs" / "scans" / "archive"
        archive.mkdir(parents=True)
        for src in (RECEIPT, LABEL):
            shutil.copy(src, archive / src.name)
        dry = client.backfill("s3://scans/archive/", "s3://scans/ocr/", dry_run=True)
        assert isinstance(dry, DryRunOut) and (dry.listed, dry.would_run, dry.would_fail) == (2, 2, 0)
        batch = client.backfill("s3://scans/archive/", "s3://scans/ocr/", task="text", formats=["json", "text"],
                                webhook_url=receiver.url("/wms/batches"))
        assert isinstance(batch, BatchOut)
        seen_progress: list[int] = []
        done = client.wait_batch(batch.id, timeout=180, poll_s=0.5,
                                 on_progress=lambda b: seen_progress.append(b.done))
        assert done.status == "completed" and (done.counts.succeeded, done.counts.failed) == (2, 0)
        assert seen_progress and seen_progress[-1] == 2
        written = sorted(p.name for p in (tmp_path / "blobs" / "scans" / "ocr").rglob("*") if p.is_file())
        for name in ("receipt.jpg", "label.png"):
            assert any(w.startswith(name) and w.endswith(".json") for w in written), written
            assert any(w.startswith(name) and w.endswith(".txt") for w in written), written
        assert client.batch_failures(batch.id).items == []
        seen = _delivered(receiver, "/wms/batches")[0]
        completed = verify_webhook(seen.headers, seen.body, secret)
        assert completed["type"] == "batch.completed" and completed["data"]["batch"]["id"] == batch.id

        with pytest.raises(ValueError, match="source bucket"):
            client.backfill("s3://scans/archive/", "s3://scans/ocr/", manifest="s3://other/keys.jsonl")

    with Client(svc.url, "ocrq_not-a-key") as stranger, pytest.raises(ApiError) as refused:
        stranger.job(first.id)
    assert refused.value.status == 401 and refused.value.code == "unauthorized"


# ------------------------------------------------------------------ retries, on a loopback stand-in
JOB = {"id": "job_1", "status": "queued", "task": "text", "params": {}, "priority": "interactive", "attempts": 0,
       "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "metadata": {},
       "input": {"sha256": "0" * 64, "bytes": 3, "content_type": "image/png", "width": 1, "height": 1},
       "links": {"self": "/v1/jobs/job_1", "result": "/v1/jobs/job_1/result", "image": "/v1/jobs/job_1/image"}}


class StandIn:
    """Answers each request with the next planned (status, headers, body); records what it was sent.
    ``hang_up``: close the connection without answering instead."""

    def __init__(self, plan: list[tuple[int, dict[str, str], dict[str, Any]] | str]) -> None:
        self.plan = plan
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stand_in.requests.append((self.command, self.path, dict(self.headers.items()), body))
                step = stand_in.plan[min(len(stand_in.requests), len(stand_in.plan)) - 1]
                if step == "hang_up":
                    self.close_connection = True
                    self.connection.close()
                    return
                assert not isinstance(step, str)
                status, headers, doc = step
                data = json.dumps(doc).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _answer  # noqa: N815

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()


def _problem(status: int, code: str) -> dict[str, Any]:
    return {"type": f"urn:ocrq:problem:{code}", "title": code.replace("_", " ").capitalize(), "status": status,
            "detail": f"{code} (stand-in)"}


def test_429_and_503_are_retried_after_their_retry_after_with_the_same_idempotency_key() -> None:
    now = email.utils.formatdate(time.time(), usegmt=True)
    plan: list[tuple[int, dict[str, str], dict[str, Any]] | str] = [
        (503, {"Retry-After": "7"}, _problem(503, "queue_full")),
        (429, {"Retry-After": now}, _problem(429, "rate_limited")),  # an HTTP date: now, so about 0 s
        (429, {}, _problem(429, "rate_limited")),  # none: 1 s
        (202, {}, JOB),
    ]
    stand_in, slept = StandIn(plan), []
    try:
        client = Client(stand_in.url, "ocrq_k", retries=3, max_retry_wait_s=5, sleep=slept.append)
        job = client.submit(b"png", filename="a.png")
    finally:
        stand_in.close()
    assert job.id == "job_1"
    assert [r[1] for r in stand_in.requests] == ["/v1/jobs"] * 4
    keys = {r[2].get("Idempotency-Key") for r in stand_in.requests}
    assert len(keys) == 1 and None not in keys  # one key for every try: the gateway makes one job
    assert all(r[2]["Authorization"] == "Bearer ocrq_k" for r in stand_in.requests)
    assert all(b'filename="a.png"' in r[3] and b"\r\npng\r\n" in r[3] for r in stand_in.requests)  # re-sent whole
    assert slept[0] == 5 and slept[1] <= 1 and slept[2] == 1  # Retry-After, capped at max_retry_wait_s


def test_the_last_429_is_raised_with_its_problem_and_retry_after() -> None:
    stand_in, slept = StandIn([(429, {"Retry-After": "3"}, _problem(429, "rate_limited"))]), []
    try:
        with pytest.raises(ApiError) as err:
            Client(stand_in.url, "ocrq_k", retries=2, sleep=slept.append).job("job_1")
    finally:
        stand_in.close()
    assert len(stand_in.requests) == 3 and slept == [3, 3]
    assert (err.value.status, err.value.code, err.value.retry_after) == (429, "rate_limited", 3)
    assert str(err.value) == "429 Rate limited: rate_limited (stand-in)"


def test_no_answer_is_retried_only_where_sending_again_is_harmless() -> None:
    port = free_port()  # nothing listens: a refused connection is retried with a backoff, then said
    slept: list[float] = []
    with pytest.raises(TransportError, match=f"cannot reach http://127.0.0.1:{port}/v1/jobs/job_1"):
        Client(f"http://127.0.0.1:{port}", "ocrq_k", retries=2, sleep=slept.append).job("job_1")
    assert slept == [0.5, 1.0]

    # sent, then the connection dropped: a GET is sent again; a new batch (no idempotency key) is not
    stand_in = StandIn(["hang_up", (200, {}, JOB)])
    try:
        assert Client(stand_in.url, "ocrq_k", sleep=lambda s: None).job("job_1").id == "job_1"
        stand_in.requests.clear()
        stand_in.plan = ["hang_up"]
        with pytest.raises(TransportError, match="no answer"):
            Client(stand_in.url, "ocrq_k", sleep=lambda s: None).backfill("s3://scans/a/", "s3://scans/ocr/")
        assert len(stand_in.requests) == 1
    finally:
        stand_in.close()


# ------------------------------------------------------------------ a package of its own
def test_the_client_is_a_package_of_its_own_that_imports_nothing_of_ocrq(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(CLIENT, src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "--no-index", "-w", str(tmp_path / "dist"), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("ocrq_client-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert {n.split("/")[0] for n in names} == {"ocrq_client", "ocrq_client-0.1.0.dist-info"}
    assert {"ocrq_client/py.typed", "ocrq_client/generated/api/jobs/submit_job.py"} <= set(names)
    assert sorted(line.split(">")[0].split("<")[0] for line in meta.splitlines()
                  if line.startswith("Requires-Dist:")) == ["Requires-Dist: attrs", "Requires-Dist: httpx"]

    # from the wheel alone, in an interpreter that refuses every package of the service
    code = textwrap.dedent(f"""
        import sys
        class NoOcrq:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("api", "shared", "cli", "models", "workers"):
                    raise ImportError(name + " is not installed")
        sys.meta_path.insert(0, NoOcrq())
        sys.path.insert(0, {str(wheel)!r})
        import ocrq_client
        assert ocrq_client.__file__.startswith({str(wheel)!r}), ocrq_client.__file__
        from ocrq_client import Client, verify_webhook
        from ocrq_client.models import JobOut
        Client("http://127.0.0.1:9", "ocrq_k").close()
        print("ok", ocrq_client.__version__)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok 0.1.0", done.stderr[-3000:]
