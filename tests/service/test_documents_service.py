"""Documents through the real service (gunicorn gateway + Celery worker, real Redis, checksum engine):
PDF and multi-page TIFF in, one result with every page, and the result as text, hOCR and a
searchable PDF. The documents are made in the test from the receipt scans (see test_documents).

The first two tests share one stack (conftest's module_service, a fresh tenant each); refusals at
submit run the gateway in process (make_inprocess_service); the S3 and kill tests start their own."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import redis
import requests
from documents_data import SCANS, encrypted, engine_texts, receipts_pdf, tiff_pages

ENV = {"OCRQ_ENGINE": "checksum"}
XHTML = "{http://www.w3.org/1999/xhtml}"


def _get(svc, path: str, **params: str) -> requests.Response:
    return svc.http.get(f"{svc.url}{path}", headers=svc.headers(), params=params, timeout=60)


@pytest.fixture
def pdf_file(tmp_path: Path) -> Path:
    path = tmp_path / "receipts.pdf"
    path.write_bytes(receipts_pdf())
    return path


def test_pdf_pages_read_one_by_one_and_exported_as_text_hocr_and_searchable_pdf(module_service, pdf_file, tmp_path):
    svc = module_service(env=ENV).for_new_tenant()
    expected = engine_texts(pdf_file, [1, 2, 3])
    if len(set(SCANS)) == 3:  # three different scans (the kit): a page mix-up cannot pass
        assert len(set(expected)) == 3

    r = svc.submit(pdf_file, name="receipts.pdf")
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["pages_total"] == 3 and accepted["pages"] == [1, 2, 3]
    assert accepted["input"]["content_type"] == "application/pdf"
    job = svc.wait(accepted["id"])
    assert job["status"] == "succeeded", job
    assert job["pages_failed"] == 0 and job["needs_review"] is False
    assert job["progress"] == {"pages_done": 3, "pages_total": 3}

    result = _get(svc, f"/v1/jobs/{job['id']}/result").json()
    assert [p["page"] for p in result["pages"]] == [1, 2, 3]
    assert [p["text"] for p in result["pages"]] == expected
    assert all(p["error"] is None for p in result["pages"])
    assert result["text"] == "\f".join(expected)
    assert _get(svc, f"/v1/jobs/{job['id']}/result", format="text").text == "\f".join(expected)

    # The searchable PDF: the words of each page in page order, the input's page count and sizes.
    r = _get(svc, f"/v1/jobs/{job['id']}/result", format="pdf")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    out_pdf = tmp_path / "searchable.pdf"
    out_pdf.write_bytes(r.content)
    inp, out = pdfium.PdfDocument(str(pdf_file)), pdfium.PdfDocument(str(out_pdf))
    assert len(out) == len(inp) == 3
    for i in range(3):
        assert out[i].get_size() == pytest.approx(inp[i].get_size(), abs=0.5)
    assert shutil.which("pdftotext"), "poppler-utils (pdftotext) is needed for this test"
    # -raw (content-stream order): the checksum engine's one line spans the whole page, and in
    # layout mode pdftotext merges the glyphs of such a tall, squeezed line; spaces are compared away.
    text = subprocess.run(["pdftotext", "-raw", str(out_pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=30).stdout
    assert text.count("\f") == 3
    assert ["".join(p.split()) for p in text.split("\f")][:3] == ["".join(e.split()) for e in expected]

    # hOCR: valid XML, one ocr_page per page, line boxes as in the result.
    r = _get(svc, f"/v1/jobs/{job['id']}/result", format="hocr")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xhtml+xml")
    root = ET.fromstring(r.content)
    hocr_pages = [el for el in root.iter(f"{XHTML}div") if el.get("class") == "ocr_page"]
    assert len(hocr_pages) == 3
    for page_el, page in zip(hocr_pages, result["pages"], strict=True):
        boxes = [el.get("title", "").split(";")[0] for el in page_el.iter(f"{XHTML}span")
                 if el.get("class") == "ocr_line"]
        assert boxes == ["bbox {} {} {} {}".format(*line["box"]) for line in page["lines"]]

    assert _get(svc, f"/v1/jobs/{job['id']}/result", format="docx").status_code == 400

    # pages="1,3": only those pages, in order; a selection is part of the idempotent request.
    r = svc.submit(pdf_file, name="receipts.pdf", pages="1,3")
    assert r.status_code == 202, r.text
    job13 = svc.wait(r.json()["id"])
    assert job13["status"] == "succeeded" and job13["pages_total"] == 3 and job13["pages"] == [1, 3]
    result13 = _get(svc, f"/v1/jobs/{job13['id']}/result").json()
    assert [p["page"] for p in result13["pages"]] == [1, 3]
    assert [p["text"] for p in result13["pages"]] == [expected[0], expected[2]]


def test_tiff_with_a_corrupt_page_succeeds_with_that_page_failed_and_needs_review(module_service):
    svc = module_service(env=ENV).for_new_tenant()
    data = tiff_pages(corrupt_page=2)
    r = svc.submit(data, name="scan.tif")
    assert r.status_code == 202, r.text
    job = svc.wait(r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["pages_total"] == 3 and job["pages_failed"] == 1 and job["needs_review"] is True
    result = _get(svc, f"/v1/jobs/{job['id']}/result").json()
    assert [p["error"]["code"] if p["error"] else None for p in result["pages"]] == [None, "page_unreadable", None]
    expected = engine_texts(data, [1, 3])
    assert [result["pages"][0]["text"], result["pages"][2]["text"]] == expected
    # an image job keeps its fields and gains `pages` with its one entry
    image = svc.submit(Path(__file__).parents[1] / "data" / "receipts" / "000.jpg")
    image_job = svc.wait(image.json()["id"])
    assert "pages_total" not in image_job and image_job["status"] == "succeeded"
    one = _get(svc, f"/v1/jobs/{image_job['id']}/result").json()
    assert len(one["pages"]) == 1 and one["pages"][0]["text"] == one["text"] and one["lines"]


def test_bad_documents_are_refused_at_submit_with_their_problem(make_inprocess_service, tmp_path):
    svc = make_inprocess_service(env={**ENV, "OCRQ_MAX_PAGES": "4"})
    pdf = receipts_pdf()
    cases = [
        (encrypted(pdf, user="secret"), {}, 422, "encrypted_pdf"),
        (pdf[: len(pdf) // 2], {}, 422, "damaged_document"),
        (receipts_pdf(extra_pages=2), {}, 413, "too_many_pages"),
        (pdf, {"pages": "2-9"}, 422, "invalid_pages"),
        (pdf, {"pages": "one"}, 422, "invalid_pages"),
        (b"plain text, not a PDF", {}, 415, "unsupported_media_type"),
    ]
    for data, form, status, code in cases:
        r = svc.submit(data, name="scan.pdf", **form)
        assert r.status_code == status, (code, r.text)
        assert r.headers["Content-Type"] == "application/problem+json"
        assert r.json()["type"] == f"urn:ocrq:problem:{code}", r.text
    # nothing of the refused documents was stored, and no job was made
    blobs = tmp_path / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))
    assert svc.http.get(f"{svc.url}/v1/jobs", headers=svc.headers(), timeout=10).json()["items"] == []


def test_pdf_by_reference_on_s3_with_a_page_selection(make_s3_service, s3_server, s3_bucket):
    from minio import Minio

    from shared.tenants import KeyStore

    svc = make_s3_service(env=ENV)
    archive = s3_bucket + "-archive"
    s3_server.make_bucket(archive)
    pdf = receipts_pdf()
    mc = Minio(s3_server.endpoint, access_key="testing", secret_key="testing", secure=False)
    mc.put_object(archive, "2019/delivery-note.pdf", io.BytesIO(pdf), len(pdf), content_type="application/pdf")
    KeyStore(redis.Redis.from_url(svc.redis_url)).allow_bucket(svc.tenant, archive)
    body = {"source": {"bucket": archive, "key": "2019/delivery-note.pdf"}, "pages": "2"}
    r = requests.post(f"{svc.url}/v1/jobs", json=body, headers=svc.headers(), timeout=30)
    assert r.status_code == 202, r.text
    job = svc.wait(r.json()["id"])
    assert job["status"] == "succeeded" and job["pages"] == [2], job
    assert [p["text"] for p in job["result"]["pages"]] == engine_texts(pdf, [2])
    r = _get(svc, f"/v1/jobs/{job['id']}/result", format="pdf")  # page images from the referenced object
    assert r.status_code == 200 and len(pdfium.PdfDocument(r.content)) == 1
    bad = {"source": {"bucket": archive, "key": "2019/delivery-note.pdf"}, "pages": "0-1"}
    r = requests.post(f"{svc.url}/v1/jobs", json=bad, headers=svc.headers(), timeout=30)
    assert r.status_code == 422 and r.json()["type"] == "urn:ocrq:problem:invalid_pages"


def test_kill_9_of_a_worker_mid_document_loses_no_page_and_reads_none_twice(make_service):
    """A 30-page PDF on two workers, one SIGKILLed (whole process group) a few pages in: the page it
    was reading comes back through its lease, the page message it held unstarted through
    OCRQ_QUEUED_RESEND_S (as a job's would), and the job succeeds with every page once."""
    svc = make_service(env={**ENV, "OCRQ_REAPER_INTERVAL_S": "1", "OCRQ_QUEUED_RESEND_S": "10"})
    svc.start_worker("worker2")
    r = redis.Redis.from_url(svc.redis_url)
    pdf = receipts_pdf(extra_pages=27)
    accepted = svc.submit(pdf, name="archive.pdf")
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["id"]
    assert accepted.json()["pages_total"] == 30

    deadline = time.monotonic() + 120
    while True:
        progress = json.loads(r.hget(f"ocrq:job:{job_id}", "progress") or b"null") or {}
        if progress.get("pages_done", 0) >= 3:
            break
        assert time.monotonic() < deadline, "the document never got going"
        time.sleep(0.05)
    victim = svc.procs.pop("worker")
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert progress["pages_done"] < 30, "the kill came too late to prove anything"

    job = svc.wait(job_id, timeout=240)
    assert job["status"] == "succeeded", job
    assert job["pages_failed"] == 0 and job["progress"] == {"pages_done": 30, "pages_total": 30}
    result = _get(svc, f"/v1/jobs/{job_id}/result").json()
    assert [p["page"] for p in result["pages"]] == list(range(1, 31))
    expected = engine_texts(pdf, [1, 2, 3, 4])
    assert [p["text"] for p in result["pages"]] == expected + [expected[3]] * 26
    pages = {int(k): json.loads(v) for k, v in r.hgetall(f"ocrq:job:{job_id}:pages").items()}
    assert sorted(pages) == list(range(1, 31)) and {p["state"] for p in pages.values()} == {"done"}
    # Only the page(s) the killed worker held were read again; every other page once.
    assert sum(p["attempts"] for p in pages.values()) <= 30 + 2
    # Finished once: one success counted, after the job's one compare-and-set.
    time.sleep(1)
    assert r.hget("ocrq:stats", "jobs:succeeded") == b"1"
