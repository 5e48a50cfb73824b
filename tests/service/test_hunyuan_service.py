"""HunyuanOCR through the running service on CPU, with a tiny random checkpoint (real transformers path)."""

import json
import subprocess
import sys

import pytest
from conftest import RECEIPTS, ROOT

# four scans: the kit's, or the repository's example receipt repeated
SCANS = (sorted(RECEIPTS.glob("*.jpg")) * 4)[:4]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from models.random_checkpoints import make_tiny

    return make_tiny(tmp_path_factory.mktemp("tiny-hunyuan"))


def test_ocr_cli_runs_spotting_with_the_tiny_checkpoint(tiny_checkpoint, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OCRQ_ENGINE": "hunyuan",
           "OCRQ_MODEL_PATH": str(tiny_checkpoint), "OCRQ_MAX_NEW_TOKENS": "24", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", "ocr", str(SCANS[0]), "--task", "spotting", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout)
    assert result["engine"]["name"] == "hunyuan" and result["task"] == "spotting"
    assert result["image"] == {"width": 463, "height": 1013} or result["image"]["width"] > 0


def test_a_job_through_the_service_runs_on_the_hunyuan_engine(make_service, tiny_checkpoint):
    service = make_service(
        env={
            "OCRQ_ENGINE": "hunyuan",
            "OCRQ_MODEL_PATH": str(tiny_checkpoint),
            "OCRQ_MAX_NEW_TOKENS": "24",
            "OCRQ_BATCH_MAX": "2",
            "HF_HUB_OFFLINE": "1",
        }
    )
    ids = [service.submit(SCANS[i], task="spotting").json()["id"] for i in range(3)]
    # a task RapidOCR cannot do is accepted by a HunyuanOCR deployment
    ids.append(service.submit(SCANS[3], task="translate", target_lang="en").json()["id"])
    for job_id in ids:
        job = service.wait(job_id, timeout=300)
        assert job["status"] == "succeeded", job
        assert job["result"]["engine"]["name"] == "hunyuan"
    starting = [
        json.loads(line)
        for line in (service.logs / "worker.log").read_text().splitlines()
        if '"worker starting"' in line
    ]
    # the micro-batching pool: threads, OCRQ_BATCH_MAX wide
    assert [(s["pool"], s["concurrency"]) for s in starting] == [("thread", 2)]


def test_an_image_and_a_three_page_pdf_decode_in_slots_together(make_service, tiny_checkpoint, tmp_path):
    from documents_data import receipts_pdf

    service = make_service(
        env={
            "OCRQ_ENGINE": "hunyuan",
            "OCRQ_MODEL_PATH": str(tiny_checkpoint),
            "OCRQ_MAX_NEW_TOKENS": "48",
            "OCRQ_BATCH_MAX": "4",  # four decode slots, four task threads
            "OCRQ_SLOT_LENGTH": "1024",
            "HF_HUB_OFFLINE": "1",
        }
    )
    pdf = tmp_path / "three.pdf"
    pdf.write_bytes(receipts_pdf())
    doc = service.submit(pdf, name="three.pdf", task="text").json()
    image = service.submit(SCANS[0], task="text").json()
    assert doc["pages_total"] == 3
    jobs = [service.wait(j["id"], timeout=300) for j in (doc, image)]
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"], jobs
    pages = jobs[0]["result"]["pages"]
    assert [p["page"] for p in pages] == [1, 2, 3]
    assert [p["error"] for p in pages] == [None, None, None]
    assert all(p["text"] for p in pages)  # the talking checkpoint answers something on every page
    assert all(p["vision_tokens"] > 0 and p["reduced_for_model"] is False for p in pages)
    assert jobs[1]["result"]["engine"]["name"] == "hunyuan" and jobs[1]["result"]["text"]
    log = [json.loads(line) for line in (service.logs / "worker.log").read_text().splitlines() if line.startswith("{")]
    # No micro-batcher in front of the slots: pages and the image each joined a slot as they came,
    # and at least two were decoding together.
    peaks = [rec.get("decode_rows", 0) for rec in log if "decoding together" in rec.get("message", rec.get("msg", ""))]
    assert peaks and max(peaks) >= 2, peaks


def test_worker_with_a_broken_model_folder_exits_non_zero(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "OCRQ_ENGINE": "hunyuan",
        "OCRQ_MODEL_PATH": str(tmp_path),
        "OCRQ_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    r = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode != 0
    assert "not usable" in r.stderr and r.stderr.strip().count("\n") == 0
