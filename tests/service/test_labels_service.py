"""Warehouse labels through the real service: gunicorn gateway + Celery worker + Redis + S3 server over HTTP.

One stack for the module (conftest's module_service), each test on a fresh tenant; the refusals at
submit run the gateway in process (make_inprocess_service), as they need no worker."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image
from runner_harness import FieldsEngine

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import make_labels as ml  # noqa: E402

LABELS = {name: (im, expected) for name, im, expected in ml.labels()}


@pytest.fixture
def make_service(module_service, make_inprocess_service, s3_server, s3_bucket):
    def make(worker: bool = True):
        if not worker:  # refused at submit: the gateway alone, in process, on its own clean Redis
            return make_inprocess_service(store_env=s3_server.env(s3_bucket))
        return module_service(s3=True).for_new_tenant()

    return make


def _png(name: str) -> bytes:
    buf = io.BytesIO()
    LABELS[name][0].save(buf, "PNG")
    return buf.getvalue()


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _jobs(svc, **params) -> list[dict]:
    r = svc.http.get(f"{svc.url}/v1/jobs", params=params, headers=svc.headers(), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_barcodes_task_reads_gs1_fields_and_flags_bad_labels_for_review(make_service):
    svc = make_service()
    clean = svc.submit(_png("gs1_128_sscc"), name="label.png", task="barcodes")
    bad = svc.submit(_png("fault_check_digit"), name="bad.png", task="barcodes")
    assert clean.status_code == bad.status_code == 202, (clean.text, bad.text)
    assert clean.json()["task"] == "barcodes" and clean.json()["needs_review"] is False

    job = svc.wait(clean.json()["id"])
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["engine"]["name"] == "zxing-cpp" and result["lines"] == []  # the decoder alone
    (symbol,) = result["barcodes"]
    assert symbol["format"] == "Code128" and symbol["gs1"]["fields"] == {"sscc": ml.SSCC}
    assert result["text"] == f"(00){ml.SSCC}"
    x0, y0, x1, y1 = symbol["box"]
    assert 0 <= x0 < x1 <= result["image"]["width"] and 0 <= y0 < y1 <= result["image"]["height"]
    assert job["needs_review"] is False and job["review_reasons"] is None

    job = svc.wait(bad.json()["id"])
    assert job["status"] == "succeeded"
    assert job["needs_review"] is True and job["review_reasons"] == ["check_digit"]
    assert job["result"]["review_reasons"] == ["check_digit"]
    assert [e["code"] for e in job["result"]["barcodes"][0]["gs1"]["errors"]] == ["check_digit"]

    assert [j["id"] for j in _jobs(svc, needs_review="true")] == [bad.json()["id"]]
    assert [j["id"] for j in _jobs(svc, needs_review="false")] == [clean.json()["id"]]
    r = svc.http.get(f"{svc.url}/v1/jobs", params={"needs_review": "maybe"}, headers=svc.headers(), timeout=30)
    assert r.status_code == 400


def _labels_pdf(*names: str) -> bytes:
    """The labels as pages of one PDF at the workers' render resolution (OCRQ_PDF_DPI, 200): a page renders
    back to the label's own pixels. A name that is not a label is a blank page."""
    pages = [LABELS[n][0].convert("RGB") if n in LABELS else Image.new("RGB", (800, 400), "white") for n in names]
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=200.0)
    return buf.getvalue()


def test_barcodes_task_on_a_pdf_reads_each_page_with_the_decoder_alone(make_service):
    svc = make_service()
    r = svc.submit(_labels_pdf("gs1_128_sscc", "fault_check_digit", "blank"), name="labels.pdf", task="barcodes")
    assert r.status_code == 202, r.text
    job = svc.wait(r.json()["id"], timeout=120)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["engine"]["name"] == "zxing-cpp"  # the decoder read the pages, not the worker's engine
    sscc, bad, blank = result["pages"]
    assert [b["gs1"]["fields"] for b in sscc["barcodes"]] == [{"sscc": ml.SSCC}]
    assert sscc["text"] == f"(00){ml.SSCC}" and sscc["lines"] == []
    assert [e["code"] for e in bad["barcodes"][0]["gs1"]["errors"]] == ["check_digit"]
    assert blank["barcodes"] == [] and blank["text"] == "" and blank["error"] is None  # no symbol: not an error
    assert result["text"].split("\f")[0] == f"(00){ml.SSCC}"  # pages joined with form feeds, as for OCR
    assert job["needs_review"] is True and job["review_reasons"] == ["check_digit"]


def test_text_task_cross_checks_the_printed_number_against_the_symbol(make_service):
    svc = make_service()
    mismatch = svc.submit(_png("fault_text_mismatch"), name="a.png")
    off = svc.submit(_png("fault_text_mismatch"), name="a.png", barcodes="off")
    job = svc.wait(mismatch.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["needs_review"] is True and job["review_reasons"] == ["text_mismatch"]
    assert "(00)" in job["result"]["text"] and len(job["result"]["barcodes"]) == 1
    job = svc.wait(off.json()["id"])
    assert off.json()["params"] == {"barcodes": "off"}
    assert job["result"]["barcodes"] is None and job["needs_review"] is False


def test_bad_options_are_refused_naming_the_allowed_values(make_service):
    svc = make_service(worker=False)
    for form, field, allowed in (({"barcodes": "maybe"}, "barcodes", "auto, on, off"),
                                 ({"quality": "x"}, "quality", "check, require")):
        r = svc.submit(_png("gs1_128_sscc"), name="label.png", **form)
        assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json", r.text
        assert r.json()["errors"][0]["field"] == field and allowed in r.json()["detail"]
    r = svc.http.post(f"{svc.url}/v1/jobs", headers=svc.headers(), timeout=30,
                      json={"source": {"bucket": "ocrq", "key": "x.png"}, "barcodes": "maybe"})
    assert r.status_code == 422 and "'auto', 'on' or 'off'" in r.json()["detail"]
    assert _jobs(svc) == []


@pytest.mark.skipif(not ml.receipt_paths(), reason=f"no receipt scans in {ml.RECEIPTS}")
def test_quality_require_refuses_a_blurred_photo_and_check_reports_a_clean_one(make_service):
    svc = make_service(worker=False)
    receipt = Image.open(ml.receipt_paths()[0]).convert("RGB")
    blurred = _jpeg(ml.RECEIPT_DEGRADATIONS["blur"][0](receipt))

    r = svc.submit(blurred, quality="require")
    assert r.status_code == 422 and r.headers["Content-Type"] == "application/problem+json", r.text
    problem = r.json()
    assert problem["type"] == "urn:ocrq:problem:rescan_needed"
    assert [e["reason"] for e in problem["errors"]][:1] == ["blurred"]
    assert _jobs(svc) == []  # nothing stored, nothing queued

    r = svc.submit(_jpeg(receipt), quality="check")
    assert r.status_code == 202, r.text
    quality = r.json()["quality"]
    assert quality["verdict"] == "ok" and quality["reasons"] == []
    assert set(quality) == {"verdict", "reasons", "sharpness", "brightness", "glare_fraction"}
    r = svc.submit(blurred, quality="check")  # check reports, never refuses
    assert r.status_code == 202 and r.json()["quality"]["reasons"][:1] == ["blurred"]
    assert "quality" not in svc.submit(_jpeg(receipt)).json()
    assert len(_jobs(svc)) == 3


def test_cli_prints_the_decoded_fields_as_a_table(make_service, tmp_path):
    import subprocess

    svc = make_service()
    label = tmp_path / "label.png"
    LABELS["gs1_128_gtin_lot_expiry"][0].save(label)
    bad = tmp_path / "bad.png"
    LABELS["fault_impossible_date"][0].save(bad)
    root = Path(__file__).resolve().parents[2]
    env = {**svc.env, "OCRQ_CLIENT_CONFIG": str(tmp_path / "none.json")}

    def ocrq(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", "submit", str(path), "--task", "barcodes", "--wait",
                               "--timeout", "60", "--url", svc.url, "--api-key", svc.api_key],
                              cwd=root, env=env, capture_output=True, text=True, timeout=120)

    done = ocrq(label)
    print(done.stdout)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert rows[0] == ["#", "FORMAT", "FIELD", "VALUE"]
    assert ["1", "Code128", "gtin", ml.GTIN] in rows and ["1", "Code128", "expiry_date", "2026-12-31"] in rows
    assert ["1", "Code128", "batch_lot", "LOT42A"] in rows and "needs review" not in done.stderr
    done = ocrq(bad)
    print(done.stdout, done.stderr)
    assert done.returncode == 0 and "! invalid_date" in done.stdout
    assert "needs review: invalid_date" in done.stderr

    # a document: each page's symbols, with the page they are on (the service, and ocrq ocr on this machine)
    pdf = tmp_path / "labels.pdf"
    pdf.write_bytes(_labels_pdf("gs1_128_sscc", "blank", "gs1_datamatrix"))
    local = subprocess.run([sys.executable, "-m", "cli.main", "ocr", str(pdf), "--task", "barcodes"],
                           cwd=root, env=env, capture_output=True, text=True, timeout=120)
    for done in (ocrq(pdf), local):
        print(done.stdout, done.stderr)
        assert done.returncode == 0, done.stderr
        rows = [line.split() for line in done.stdout.splitlines()]
        assert rows[0] == ["#", "PAGE", "FORMAT", "FIELD", "VALUE"]
        assert ["1", "1", "Code128", "sscc", ml.SSCC] in rows
        assert ["2", "3", "DataMatrix", "gtin", ml.GTIN] in rows


def test_a_fields_answer_that_contradicts_the_barcode_is_flagged_on_the_job(redis_db, tmp_path):
    """The worker's runner (real Redis job store, local blob store, the real decoder) with an engine whose
    fields answer disagrees with the label's GS1-128 symbol: the job needs review for answer_mismatch."""
    import hashlib

    from shared.infra.blobs import LocalBlobStore, input_key
    from shared.infra.redis_client import connect
    from shared.infra.settings import load_settings
    from shared.jobs import InputRef, Job
    from shared.jobs.store import JobStore
    from shared.jobs.task_spec import TaskSpec
    from workers.runner import JobRunner

    settings = load_settings(redis_url=redis_db, storage_url=f"file://{tmp_path}")
    store, blobs = JobStore(connect(redis_db), 3600), LocalBlobStore(tmp_path, "ocrq")
    data = _png("gs1_128_gtin_lot_expiry")
    sha = hashlib.sha256(data).hexdigest()
    blobs.put(input_key("acme", sha), data)
    good = {"GTIN": ml.GTIN, "Batch/Lot": "LOT42A", "Best before": "31.12.2026"}
    for answer, reasons in ((good, None), ({**good, "Batch/Lot": "LOT24A"}, ["answer_mismatch"])):
        job = Job(id=f"job_{len(answer)}_{answer['Batch/Lot']}", tenant="acme",
                  spec=TaskSpec(task="fields", fields=tuple(answer)),
                  input=InputRef(bucket="ocrq", key=input_key("acme", sha), sha256=sha, bytes=len(data),
                                 content_type="image/png", width=0, height=0))
        store.create(job)
        runner = JobRunner(settings, store, blobs, FieldsEngine(answer))
        assert runner.run(job.id).status == "succeeded"
        done = store.get(job.id)
        assert done.review_reasons == reasons and done.needs_review is bool(reasons), (answer, done)
        result = json.loads(blobs.get(done.result_key)) if done.result_key else {}
        assert result["fields"] == answer and result["barcodes"][0]["gs1"]["fields"]["batch_lot"] == "LOT42A"
