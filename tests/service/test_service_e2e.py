"""The whole pipeline through real HTTP, a real Redis and real worker processes.

The tests that only submit and read share one stack for the module (conftest's module_service),
each on a fresh tenant; the one that kills a worker's pool child starts its own."""

import json
import os
import signal
import subprocess
import sys
import time

import imaging
import pytest
import redis
from conftest import KIT_RECEIPTS, RECEIPTS, ROOT

RECEIPT_FILES = sorted(RECEIPTS.glob("*.jpg"))


@pytest.fixture
def service(module_service):
    return module_service().for_new_tenant()


def direct_results(rapid_engine, paths):
    """What `ocrq ocr` gives: the same decode + engine + result code, in this process."""
    from cli.ocr_cmd import ocr_file
    from shared.infra.settings import load_settings

    settings = load_settings()
    return [ocr_file(p.read_bytes(), settings, rapid_engine, "text") for p in paths]


@pytest.mark.slow  # ~45 s: twelve real receipts through RapidOCR twice
def test_twelve_receipts_read_the_same_through_the_service_as_directly(service, rapid_engine):
    # the kit's twelve receipts; without the kit, the repository's own example receipt
    assert len(RECEIPT_FILES) == (12 if RECEIPTS == KIT_RECEIPTS else len(list(RECEIPTS.glob("*.jpg"))))
    assert RECEIPT_FILES
    ids = []
    for path in RECEIPT_FILES:
        r = service.submit(path, name=path.name)
        assert r.status_code == 202, r.text
        assert r.headers["Location"] == f"/v1/jobs/{r.json()['id']}"
        ids.append(r.json()["id"])
    expected = direct_results(rapid_engine, RECEIPT_FILES)
    for path, job_id, want in zip(RECEIPT_FILES, ids, expected, strict=True):
        job = service.wait(job_id)
        assert job["status"] == "succeeded", job
        got = job["result"]
        assert got["text"] == want.text, path.name
        assert [ln["box"] for ln in got["lines"]] == [list(ln.box) for ln in want.lines], path.name
        assert got["image"] == {"width": want.image.width, "height": want.image.height}
        assert got["engine"]["name"] == "rapidocr" and got["timings"]["total_ms"] >= got["timings"]["infer_ms"] > 0
    # a known word is read from the first receipt
    assert "TAMAN DAYA" in service.wait(ids[0])["result"]["text"]


def test_ocr_cli_prints_the_same_text_as_the_service(service):
    path = RECEIPT_FILES[0]
    cli = subprocess.run([sys.executable, "-m", "cli.main", "ocr", str(path), "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    direct = json.loads(cli.stdout)
    job = service.wait(service.submit(path).json()["id"])
    assert job["result"]["text"] == direct["text"] and job["result"]["lines"] == direct["lines"]


def test_synthetic_label_is_read_back_exactly(service):
    r = service.submit(imaging.label("SKU 48213-B QTY 12"), name="label.png")
    job = service.wait(r.json()["id"])
    assert job["status"] == "succeeded"
    assert job["result"]["text"].strip() == "SKU 48213-B QTY 12"
    box = job["result"]["lines"][0]["box"]
    assert 0 <= box[0] < box[2] and 0 <= box[1] < box[3]


def test_submit_wait_cli_prints_receipt_text(service, tmp_path):
    env = {
        **service.env,
        "OCRQ_URL": service.url,
        "OCRQ_API_KEY": service.api_key,
        "OCRQ_CLIENT_CONFIG": str(tmp_path / "c.json"),
    }
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", "submit", str(RECEIPT_FILES[0]), "--wait"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "TAMAN DAYA" in r.stdout


def _pool_child_pids(parent_pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent_pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _celery_main_pid(service) -> int:
    # `ocrq worker` (session leader) -> celery main -> prefork pool child
    kids = _pool_child_pids(service.procs["worker"].pid)
    assert kids, "celery main process not found"
    return kids[0]


def test_sigkill_of_the_pool_child_mid_job_still_succeeds_once(make_service):
    # A slow engine stand-in is not needed: a big receipt batch keeps the child busy long enough.
    service = make_service(env={"OCRQ_MAX_ATTEMPTS": "3"})
    r = redis.Redis.from_url(service.redis_url)
    job_id = service.submit(RECEIPT_FILES[1 % len(RECEIPT_FILES)]).json()["id"]
    key = f"ocrq:job:{job_id}"
    deadline = time.monotonic() + 60
    while json.loads(r.hget(key, "status") or b'"queued"') != "running":
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.01)
    worker = json.loads(r.hget(key, "worker"))
    child_pid = int(worker.rsplit(":", 1)[1])
    os.kill(child_pid, signal.SIGKILL)
    job = service.wait(job_id, timeout=120)
    assert job["status"] == "succeeded" and job["attempts"] == 2
    # exactly one result object, finished once
    assert r.hget(key, "result_key") is not None
    # finished exactly once: the success counter (bumped after the final compare-and-set) is 1
    deadline = time.monotonic() + 10
    while r.hget("ocrq:stats", "jobs:succeeded") is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    assert r.hget("ocrq:stats", "jobs:succeeded") == b"1"
