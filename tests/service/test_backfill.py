"""Bulk backfill: planner logic in-process (real Redis, local store), then the whole service on real S3.

The in-process tests use a stub engine so that they check windows, dedup, ledgers and crash
recovery in seconds; the end-to-end tests run the service as deployed (gateway, OCR worker, webhook
worker hosting the planner) against moto's S3 server: 2,000 items on the checksum engine (a real
engine selected by OCRQ_ENGINE, whose answer the test can compute itself), the manifest on RapidOCR,
and a prefix mixing JPEGs, a PDF and a TIFF made here from the receipt scans (page counts, searchable PDFs).
The manifest and problems tests share one RapidOCR stack (conftest's module_service, a fresh tenant and
source bucket each); the end-to-end test with kills and the checksum one start their own.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import imaging
import pypdfium2 as pdfium
import pytest
import redis as redis_lib
import requests
from batch_harness import Harness, StubEngine, digit_png
from conftest import RECEIPTS, ROOT, _kill_group, new_tenant
from documents_data import encrypted, receipts_pdf, tiff_of
from PIL import Image
from wms_receiver import Receiver

from models.base import EngineOutput
from shared.batches.accounting import batch_hook
from shared.batches.control import cancel_batch, retry_failed
from shared.batches.model import (
    SWEEP_GRACE_MS,
    Batch,
    bkey,
    create_batch,
    new_batch_id,
    record_engine_version,
)
from shared.infra.settings import load_settings
from workers.planner import Planner
from workers.reaper import reap_once


@pytest.fixture
def h(redis_db: str, tmp_path: Path) -> Harness:
    return Harness(redis_db, tmp_path / "blobs")


def test_window_bounds_in_flight_and_every_item_gets_a_result_and_one_ledger_row(h: Harness) -> None:
    for i in range(120):
        h.put("scans", f"in/{i:04d}.png", digit_png(i % 10, i // 10 % 3))
    h.put("scans", "in/readme.txt", b"not an image")
    bid = h.create(src_prefix="in/", glob="*.png")
    b = h.drive(bid)
    assert b.status == "completed"
    assert h.max_inflight <= h.window
    assert b.n("planned") == 120 and b.n("succeeded") + b.n("skipped") == 120 and b.n("failed") == 0
    # 30 distinct contents: content dedup inside the batch means far fewer engine calls than items
    assert h.engine.calls < 60
    for i in range(120):
        doc = json.loads(h.blobs.get(f"ocr/in/{i:04d}.png.json", bucket="scans"))
        assert doc["source"]["key"] == f"in/{i:04d}.png" and doc["text"]
    rows = h.ledger(bid)
    assert sorted(r["key"] for r in rows) == [f"in/{i:04d}.png" for i in range(120)]
    # Redis keeps no per-item state once done: no job records, no in-flight entries
    assert not list(h.r.scan_iter("ocrq:job:*"))
    assert h.r.hlen(bkey(bid, "inflight")) == 0 and h.r.llen(bkey(bid, "ledger")) == 0

    # the same backfill again redoes nothing
    calls = h.engine.calls
    bid2 = h.create(src_prefix="in/", glob="*.png")
    b2 = h.drive(bid2)
    assert b2.n("skipped") == 120 and b2.n("succeeded") == 0 and h.engine.calls == calls
    assert len(h.ledger(bid2)) == 120


def test_new_engine_version_redoes_items(h: Harness) -> None:
    for i in range(5):
        h.put("scans", f"v/{i}.png", digit_png(i))
    h.drive(h.create(src_prefix="v/"))
    record_engine_version(h.r, "rapidocr", "stub-2", serves_bulk=True)
    h.runner.engine.version = "stub-2"  # type: ignore[misc]
    b = h.drive(h.create(src_prefix="v/"))
    assert b.n("succeeded") == 5 and b.n("skipped") == 0
    StubEngine.version = "stub-1"


def test_planner_crash_between_queueing_and_sending_loses_and_duplicates_nothing(h: Harness) -> None:
    for i in range(30):
        h.put("scans", f"c/{i:03d}.png", digit_png(i % 10, i // 10))
    bid = h.create(src_prefix="c/")

    class Boom(BaseException):
        pass

    calls = {"n": 0}

    def dying_send(job_id: str, queue: str) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise Boom()  # the planner process dies after registering item 5, before its message
        h.sent.append(job_id)

    p1 = Planner(h.settings, h.r, h.blobs, dying_send)
    with pytest.raises(Boom):
        p1.tick(bid)
    h.r.delete(bkey(bid, "lock"))  # its lock would expire; do not wait for it in a test
    # the reaper sends the job that had no message (it is on the 'unsent' list)
    reap_once(h.store, lambda j, q: h.sent.append(j), h.settings.lease_s, now=int(time.time() * 1000) + 60_000)
    b = h.drive(bid)
    assert b.n("planned") == 30 and b.n("succeeded") + b.n("skipped") == 30
    rows = h.ledger(bid)
    assert len(rows) == 30 and len({r["key"] for r in rows}) == 30


def test_manifest_missing_non_image_and_duplicate_are_failures_with_reasons(h: Harness) -> None:
    for i in range(4):
        h.put("scans", f"m/{i}.png", digit_png(i))
    h.put("scans", "m/notes.txt", b"hello, not an image")
    manifest = "\n".join(json.dumps(x) for x in [
        {"key": "m/0.png", "patient": "a"}, "m/1.png", "m/missing.png", "m/notes.txt", "m/2.png", "m/1.png", "m/3.png"])
    h.put("scans", "manifests/m.jsonl", manifest.encode())
    bid = h.create(manifest_bucket="scans", manifest_key="manifests/m.jsonl", total=7)
    b = h.drive(bid)
    assert b.n("succeeded") + b.n("skipped") == 4 and b.n("failed") == 3
    fails = {json.loads(v)["key"] + "@" + str(json.loads(v)["line"]): json.loads(v)["code"]
             for v in h.r.hvals(bkey(bid, "failures"))}
    assert fails == {"m/missing.png@3": "input_missing", "m/notes.txt@4": "unsupported_media_type", "m/1.png@6": "duplicate_key"}
    meta = json.loads(h.blobs.get("ocr/m/0.png.json", bucket="scans"))["metadata"]
    assert meta == {"patient": "a"}
    # retry-failed: the missing object appears; duplicates are not retried
    h.put("scans", "m/missing.png", digit_png(7))
    assert retry_failed(h.r, Batch.load(h.r, bid)) == 2  # type: ignore[arg-type]
    b = h.drive(bid)
    assert b.status == "completed" and b.n("failed") == 2 and b.n("succeeded") + b.n("skipped") == 5


def test_cancel_stops_planning_and_cancels_queued_jobs(h: Harness) -> None:
    for i in range(40):
        h.put("scans", f"x/{i:03d}.png", digit_png(i % 10, i // 10))
    bid = h.create(src_prefix="x/")
    h.planner.tick(bid)
    assert h.r.hlen(bkey(bid, "inflight")) == h.window
    cancel_batch(h.r, h.store, Batch.load(h.r, bid))  # type: ignore[arg-type]
    time.sleep(SWEEP_GRACE_MS / 1000 + 0.1)
    h.planner._last_sweep.clear()
    b = h.drive(bid)
    assert b.status == "canceled" and b.n("canceled") == h.window and b.n("planned") == h.window
    assert h.engine.calls == 0


def test_tenants_share_the_bulk_lane_however_many_batches_each_starts(h: Harness) -> None:
    from shared.jobs.task_spec import TaskSpec

    h.planner = h.new_planner(batch_tenant_window=8)
    for i in range(30):
        h.put("scans", f"f/{i:03d}.png", digit_png(i % 10, i // 10))
    acme = [h.create(src_prefix="f/", out_prefix=f"o{n}/") for n in range(3)]
    other = new_batch_id()
    create_batch(
        h.r,
        batch_id=other,
        tenant="other",
        spec=TaskSpec(task="text"),
        src_bucket="scans",
        src_prefix="f/",
        out_bucket="scans",
        out_prefix="x/",
        window=8,
    )
    for _ in range(3):
        h.planner.tick_all()
    inflight = {bid: h.r.hlen(bkey(bid, "inflight")) for bid in [*acme, other]}
    assert sum(inflight[b] for b in acme) == 8 and inflight[other] == 8, inflight


# --------------------------------------------------------------------------- documents in a batch
SCANS = (sorted(RECEIPTS.glob("*.jpg")) * 5)[:5]  # the kit's receipts (or the repo's example, repeated)


class LinedEngine(StubEngine):
    """The stub with what a searchable PDF needs: one line over the whole page, its text a
    fingerprint of the page's pixels (so a page mix-up cannot pass)."""

    def run(self, reqs):  # type: ignore[no-untyped-def]
        from models.checksum import checksum_text
        from shared.results.model import Line

        self.calls += len(reqs)
        outs = []
        for r in reqs:
            text = checksum_text(r.image)
            outs.append(EngineOutput(text=text, lines=[Line(text=text, box=(0, 0, *r.image.size), confidence=1.0)]))
        return outs


def pdf_page_texts(data: bytes, tmp_path: Path) -> list[str]:
    """pdftotext of a PDF, one string per page, whitespace removed (the text layer is stretched
    over each line box; spaces are not what is compared)."""
    path = tmp_path / "out.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    pages = out.split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]  # pdftotext ends each page with a form feed
    return ["".join(p.split()) for p in pages]


def mixed_prefix() -> dict[str, tuple[bytes, int]]:
    """key -> (bytes, pages): 2 JPEGs, a 3-page PDF, a 2-page TIFF, a 3-page TIFF whose page 2 is corrupt."""
    return {
        "mix/a.jpg": (SCANS[0].read_bytes(), 1),
        "mix/b.jpg": (SCANS[1].read_bytes(), 1),
        "mix/doc.pdf": (receipts_pdf(), 3),
        "mix/scan.tif": (tiff_of(SCANS[3:5]), 2),
        "mix/torn.tiff": (tiff_of(SCANS[:3], corrupt=(2,)), 3),
    }


BAD_DOCUMENTS = {  # key -> (bytes, the code the gateway would refuse it with)
    "mix/locked.pdf": (encrypted(receipts_pdf(), user="secret"), "encrypted_pdf"),
    "mix/broken.pdf": (receipts_pdf()[: len(receipts_pdf()) * 2 // 3], "damaged_document"),
    "mix/notes.pdf": (b"just some text, named notes.pdf\n", "unsupported_media_type"),
}


def test_prefix_mixing_jpegs_pdfs_and_tiffs_counts_pages_and_writes_searchable_pdfs(h: Harness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    h.engine = h.runner.engine = LinedEngine()  # type: ignore[misc]
    h.runner.on_finished.append(batch_hook(h.settings, h.store))  # the hook runs twice: counts must not double
    good = mixed_prefix()
    for key, (data, _) in {**good, **{k: (v[0], 0) for k, v in BAD_DOCUMENTS.items()}}.items():
        h.put("scans", key, data)
    bid = h.create(src_prefix="mix/", output_formats=("json", "pdf"))
    b = h.drive(bid)
    assert b.status == "completed"
    pages = sum(n for _, n in good.values())  # 10
    assert (b.n("planned"), b.n("succeeded"), b.n("failed")) == (8, 5, 3)
    assert (b.n("pages_total"), b.n("pages_done"), b.n("pages_failed"), b.n("pages_skipped")) == (pages, pages - 1, 1, 0)
    # a bad document is a failed item with the gateway's reason, not a stuck batch
    fails = {json.loads(v)["key"]: json.loads(v) for v in h.r.hvals(bkey(bid, "failures"))}
    assert {k: f["code"] for k, f in fails.items()} == {k: code for k, (_, code) in BAD_DOCUMENTS.items()}
    assert all(f["message"] for f in fails.values())

    for key, (data, n) in good.items():
        doc = json.loads(h.blobs.get(f"ocr/{key}.json", bucket="scans"))
        assert len(doc["pages"]) == n and [p["page"] for p in doc["pages"]] == list(range(1, n + 1)), key
        # the searchable PDF beside the JSON: one page per input page, each page's text in its layer
        out = h.blobs.get(f"ocr/{key}.pdf", bucket="scans")
        assert len(pdfium.PdfDocument(out)) == n
        texts = pdf_page_texts(out, tmp_path)
        assert texts == ["".join((p["text"] or "").split()) for p in doc["pages"]], key
        if key.endswith(".pdf"):  # a PDF keeps its page sizes
            inp, got = pdfium.PdfDocument(data), pdfium.PdfDocument(out)
            for i in range(n):
                assert got[i].get_size() == pytest.approx(inp[i].get_size(), abs=0.5)
    torn = json.loads(h.blobs.get("ocr/mix/torn.tiff.json", bucket="scans"))
    assert torn["pages"][1]["error"]["code"] == "page_unreadable" and torn["pages_failed"] == 1
    assert all(torn["pages"][i]["text"] for i in (0, 2))
    rows = {r["key"]: r for r in h.ledger(bid)}
    assert rows["mix/doc.pdf"]["outputs"] == ["scans/ocr/mix/doc.pdf.json", "scans/ocr/mix/doc.pdf.pdf"]
    assert rows["mix/locked.pdf"]["status"] == "failed" and rows["mix/locked.pdf"]["error"]["code"] == "encrypted_pdf"

    # the same prefix again, hOCR asked too: nothing is read again, the hOCR is made from the results
    calls = h.engine.calls
    b2 = h.drive(h.create(src_prefix="mix/", output_formats=("json", "pdf", "hocr")))
    assert (b2.n("skipped"), b2.n("succeeded"), b2.n("failed")) == (5, 0, 3) and h.engine.calls == calls
    assert (b2.n("pages_total"), b2.n("pages_skipped"), b2.n("pages_done")) == (pages, pages, 0)
    for key, (_, n) in good.items():
        root = ET.fromstring(h.blobs.get(f"ocr/{key}.hocr", bucket="scans"))
        assert sum(1 for el in root.iter() if el.get("class") == "ocr_page") == n

    # hOCR instead of JSON: no result JSON under that prefix, a small _done record for reruns
    bid3 = h.create(src_prefix="mix/", out_prefix="hocr/", output_formats=("hocr",))
    b3 = h.drive(bid3)
    assert b3.n("succeeded") == 5
    assert h.blobs.stat("hocr/mix/doc.pdf.json", bucket="scans") is None
    assert h.blobs.stat("hocr/mix/doc.pdf.hocr", bucket="scans") is not None
    record = json.loads(h.blobs.get("hocr/_done/mix/doc.pdf.json", bucket="scans"))
    assert record["ocrq"]["formats"] == ["hocr"] and record["outputs"] == {"hocr": "hocr/mix/doc.pdf.hocr"}
    assert {r["key"]: r["result"] for r in h.ledger(bid3, "hocr/")}["mix/doc.pdf"] == "scans/hocr/mix/doc.pdf.hocr"
    calls = h.engine.calls
    b4 = h.drive(h.create(src_prefix="mix/", out_prefix="hocr/", output_formats=("hocr",)))
    assert b4.n("skipped") == 5 and h.engine.calls == calls


def test_a_document_whose_every_page_fails_fails_its_pages_and_retry_takes_them_back(h: Harness) -> None:
    h.engine = h.runner.engine = LinedEngine()  # type: ignore[misc]
    h.put("scans", "r/ok.jpg", SCANS[0].read_bytes())
    h.put("scans", "r/bad.tif", tiff_of(SCANS[1:3], corrupt=(1, 2)))
    bid = h.create(src_prefix="r/")
    b = h.drive(bid)
    assert (b.n("succeeded"), b.n("failed")) == (1, 1)
    assert (b.n("pages_total"), b.n("pages_done"), b.n("pages_failed")) == (3, 1, 2)
    (fail,) = [json.loads(v) for v in h.r.hvals(bkey(bid, "failures"))]
    assert fail["key"] == "r/bad.tif" and fail["code"] == "page_unreadable" and fail["retryable"]
    h.put("scans", "r/bad.tif", tiff_of(SCANS[1:3]))  # a good scan of it turns up
    assert retry_failed(h.r, Batch.load(h.r, bid)) == 1  # type: ignore[arg-type]
    b = h.drive(bid)
    assert (b.n("succeeded"), b.n("failed")) == (2, 0)
    assert (b.n("pages_total"), b.n("pages_done"), b.n("pages_failed")) == (3, 3, 0)


# ------------------------------------------------------------------------------ end to end on S3
def _s3(s3_server):  # type: ignore[no-untyped-def]
    from minio import Minio

    return Minio(s3_server.endpoint, access_key=s3_server.access_key, secret_key=s3_server.secret_key, secure=False)


def _upload_many(client, bucket: str, items: list[tuple[str, bytes]]) -> None:  # type: ignore[no-untyped-def]
    def put(kv: tuple[str, bytes]) -> None:
        client.put_object(bucket, kv[0], io.BytesIO(kv[1]), len(kv[1]), content_type="image/png")

    with cf.ThreadPoolExecutor(8) as ex:
        list(ex.map(put, items))


def _wait_batch(svc, bid: str, timeout: float, until=None) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    b: dict = {}
    while time.monotonic() < deadline:
        b = requests.get(f"{svc.url}/v1/batches/{bid}", headers=svc.headers(), timeout=30).json()
        if b["status"] in ("completed", "canceled") or (until and until(b)):
            return b
        time.sleep(0.3)
    raise AssertionError(f"batch {bid} not done after {timeout} s: {b}")


@pytest.fixture
def s3_service(make_service, module_service, s3_server, s3_bucket):  # type: ignore[no-untyped-def]
    """A factory: gateway + OCR worker + webhook worker (which hosts the batch planner, as deployed)
    on the S3 server, with a source bucket the tenant may read. shared=True: the module's stack for
    those settings (conftest's module_service), seen by a fresh tenant; otherwise a stack of the
    test's own (the end-to-end test kills its workers)."""

    def make(engine: str = "rapidocr", window: int = 16, shared: bool = False):  # type: ignore[no-untyped-def]
        src = "scans" + s3_bucket[1:]
        s3_server.make_bucket(src)
        env = {"OCRQ_ENGINE": engine, "OCRQ_BATCH_WINDOW": str(window)}
        if shared:
            svc = module_service(s3=True, webhooks=True, env=env).for_new_tenant()
        else:
            svc = make_service(store_env=s3_server.env(s3_bucket), env=env)
        from shared.tenants import KeyStore

        KeyStore(redis_lib.Redis.from_url(svc.redis_url)).allow_bucket(svc.tenant, src)
        if not shared:
            svc.start_webhooks()
        svc.src = src  # type: ignore[attr-defined]
        svc.s3 = _s3(s3_server)  # type: ignore[attr-defined]
        return svc

    return make


def distinct_png(i: int) -> bytes:
    """A 16x16 grey PNG whose pixels encode i: 2,000 of them are 2,000 different contents."""
    im = Image.new("L", (16, 16), 255)
    for bit in range(16):
        if i >> bit & 1:
            im.putpixel((bit, bit % 4), 0)
    im.putpixel((15, 15), i % 251)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def expected_checksum(data: bytes) -> str:
    """What the checksum engine answers for these bytes, computed here without the service."""
    from models.checksum import checksum_text
    from shared.intake.images import decode_for_ocr

    st = load_settings()
    return checksum_text(
        decode_for_ocr(data, formats=st.allowed_formats, max_pixels=st.max_pixels, max_side=st.max_side).image
    )


N_E2E = 2000


@pytest.mark.slow  # ~140 s: 2,000 objects through the real stack, two kills and a rerun
def test_2000_object_prefix_end_to_end_with_kills_then_rerun_skips_all(s3_service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    svc = s3_service(engine="checksum", window=32)
    src, s3 = svc.src, svc.s3
    images = {f"archive/{i:05d}.png": distinct_png(i) for i in range(N_E2E)}
    _upload_many(s3, src, list(images.items()))
    body = {
        "source": {"bucket": src, "prefix": "archive/"},
        "output": {"bucket": src, "prefix": "ocr/"},
        "task": "text",
    }
    t0 = time.monotonic()
    r = requests.post(f"{svc.url}/v1/batches", json=body, headers=svc.headers(), timeout=30)
    assert r.status_code == 202, r.text
    bid = r.json()["id"]

    # kill -9 the planner (the webhook worker hosting it) a quarter of the way, the OCR worker
    # (with a job in hand) half way; both come back and the batch completes
    _wait_batch(svc, bid, 300, until=lambda b: b["done"] >= N_E2E // 4)
    _kill_group(svc.procs.pop("webhooks"), signal.SIGKILL)
    svc.start_webhooks("webhooks2")
    _wait_batch(svc, bid, 300, until=lambda b: b["done"] >= N_E2E // 2)
    _kill_group(svc.procs.pop("worker"), signal.SIGKILL)
    svc.start_worker("worker2")
    b = _wait_batch(svc, bid, 600)
    took = time.monotonic() - t0
    c = b["counts"]
    assert b["status"] == "completed", b
    assert c == {
        "planned": N_E2E,
        "queued": 0,
        "running": 0,
        "succeeded": N_E2E,
        "failed": 0,
        "skipped": 0,
        "canceled": 0,
        "pages_total": N_E2E,  # an image is one page
        "pages_done": N_E2E,
        "pages_failed": 0,
        "pages_skipped": 0,
    }, c
    assert b["total"] == N_E2E and b["done"] == N_E2E
    print(f"\n{N_E2E}-object backfill with kills: {took:.1f} s")

    # every item has its result, mirrored under the output prefix, and it is the right one
    keys = sorted(o.object_name for o in s3.list_objects(src, prefix="ocr/archive/", recursive=True))
    assert keys == sorted(f"ocr/{k}.json" for k in images)

    def read(key: str) -> tuple[str, dict]:
        return key, json.loads(s3.get_object(src, f"ocr/{key}.json").read())

    with cf.ThreadPoolExecutor(8) as ex:
        docs = dict(ex.map(read, images))
    for key, doc in docs.items():
        assert doc["source"]["key"] == key and doc["engine"]["name"] == "checksum"
        assert doc["text"] == expected_checksum(images[key]), key
    assert len({d["ocrq"]["job_id"] for d in docs.values()}) == N_E2E  # one job per item
    # one ledger row per item, none twice, pointing at the result
    rows = []
    for o in s3.list_objects(src, prefix=f"ocr/_ledger/{bid}/", recursive=True):
        rows += [json.loads(x) for x in s3.get_object(src, o.object_name).read().decode().splitlines()]
    assert sorted(r["key"] for r in rows) == sorted(images)
    assert all(r["status"] == "succeeded" and r["result"] == f"{src}/ocr/{r['key']}.json" and r["sha256"] for r in rows)
    # Redis holds nothing per item once the batch is done
    rc = redis_lib.Redis.from_url(svc.redis_url)
    assert not list(rc.scan_iter("ocrq:job:*")) and rc.hlen(bkey(bid, "inflight")) == 0
    assert rc.zcard("ocrq:queued") == 0 and rc.zcard("ocrq:expiring") == 0  # no per-job set entry left

    # again, through the CLI: the dry run says everything would be skipped, the run skips all 2,000
    env = {**svc.env, "OCRQ_URL": svc.url, "OCRQ_API_KEY": svc.api_key, "OCRQ_CLIENT_CONFIG": str(tmp_path / "c.json")}
    cli = [
        sys.executable,
        "-m",
        "cli.main",
        "backfill",
        f"s3://{src}/archive/",
        "--task",
        "text",
        "--out",
        f"s3://{src}/ocr/",
    ]
    dry = subprocess.run(cli + ["--dry-run", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr
    d = json.loads(dry.stdout)
    assert (d["listed"], d["would_skip"], d["would_run"], d["would_fail"]) == (N_E2E, N_E2E, 0, 0)
    again = subprocess.run(cli + ["--wait", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    b2 = json.loads(again.stdout)
    assert b2["counts"]["skipped"] == N_E2E and b2["counts"]["succeeded"] == 0 and b2["counts"]["failed"] == 0
    again_docs = dict(cf.ThreadPoolExecutor(8).map(read, list(images)[:50]))
    assert all(again_docs[k]["ocrq"]["job_id"] == docs[k]["ocrq"]["job_id"] for k in again_docs)  # not redone


def test_manifest_failures_listed_with_reasons_retry_and_batch_completed_webhook(s3_service, tmp_path) -> None:  # type: ignore[no-untyped-def]
    svc = s3_service(engine="rapidocr", shared=True)
    src, s3 = svc.src, svc.s3
    rx = Receiver().start()
    try:
        rx.secrets["/batches"] = requests.post(
            f"{svc.url}/v1/webhooks/default-secret", headers=svc.headers(), timeout=10
        ).json()["secret"]
        # A WMS endpoint with the default subscription, and a back-office one that asks for each item.
        for path, events in (("/all", None), ("/items", ["batch.item.succeeded", "batch.item.failed"])):
            ep = requests.post(f"{svc.url}/v1/webhooks", headers=svc.headers(), timeout=10,
                               json={"url": rx.url(path), **({"events": events} if events else {})})
            assert ep.status_code == 201, ep.text
            rx.secrets[path] = ep.json()["secret"]
        _upload_many(
            s3,
            src,
            [(f"m/{i}.png", imaging.label(f"A{i}7", size=24)) for i in range(4)]
            + [("m/notes.txt", b"plain text, not an image")],
        )
        manifest = tmp_path / "keys.jsonl"
        manifest.write_text(
            "\n".join(
                json.dumps(x)
                for x in [
                    {"key": "m/0.png", "box": 12},
                    "m/1.png",
                    "m/gone.png",
                    "m/notes.txt",
                    "m/2.png",
                    "m/1.png",
                    "m/3.png",
                ]
            )
            + "\n"
        )
        env = {
            **svc.env,
            "OCRQ_URL": svc.url,
            "OCRQ_API_KEY": svc.api_key,
            "OCRQ_CLIENT_CONFIG": str(tmp_path / "c.json"),
        }
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli.main",
                "backfill",
                f"s3://{src}",
                "--manifest",
                str(manifest),
                "--task",
                "text",
                "--out",
                f"s3://{src}/out",
                "--webhook-url",
                rx.url("/batches"),
                "--wait",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 1, run.stderr  # items failed: non-zero exit
        assert "failed 3" in run.stderr and "4 succeeded" in run.stdout
        bid = run.stderr.split("batch ", 1)[1].split()[0]
        b = requests.get(f"{svc.url}/v1/batches/{bid}", headers=svc.headers(), timeout=10).json()
        assert b["counts"]["succeeded"] == 4 and b["counts"]["failed"] == 3 and b["total"] == 7
        f = requests.get(f"{svc.url}/v1/batches/{bid}/failures", headers=svc.headers(), timeout=10).json()["items"]
        got = {(x["key"], x["line"], x["code"]) for x in f}
        assert got == {
            ("m/gone.png", 3, "input_missing"),
            ("m/notes.txt", 4, "unsupported_media_type"),
            ("m/1.png", 6, "duplicate_key"),
        }
        assert all(x["message"] for x in f)
        doc = json.loads(s3.get_object(src, "out/m/0.png.json").read())
        assert doc["text"].strip() == "A07" and doc["metadata"] == {"box": 12}
        # batch.completed went through the outbox to the batch's webhook, signed
        deadline = time.monotonic() + 30
        while not rx.accepted("/batches") and time.monotonic() < deadline:
            time.sleep(0.2)
        seen = rx.accepted("/batches")
        assert len(seen) == 1, rx.seen
        ev = json.loads(seen[0].body)
        assert ev["type"] == "batch.completed" and ev["data"]["batch"]["id"] == bid
        assert ev["data"]["batch"]["status"] == "completed" and ev["data"]["batch"]["counts"]["failed"] == 3
        # Per item: only to the endpoint that asked, each pointing at a result that exists (the item's
        # job record is gone by now: a job.succeeded link would answer 404).
        deadline = time.monotonic() + 30
        while len(rx.accepted("/items")) < 7 and time.monotonic() < deadline:
            time.sleep(0.2)
        items = [json.loads(x.body) for x in rx.accepted("/items")]
        assert sorted(e["type"] for e in items) == ["batch.item.failed"] * 3 + ["batch.item.succeeded"] * 4, items
        for e in items:
            item = e["data"]["item"]
            assert e["data"]["batch_id"] == bid
            if e["type"] == "batch.item.succeeded":
                bucket, key = item["result"].split("/", 1)
                assert json.loads(s3.get_object(bucket, key).read())["text"].strip()
            else:
                assert item["error"]["code"] in ("input_missing", "unsupported_media_type", "duplicate_key")
        # The default subscription gets the batch's end, not a job.* per archived scan.
        assert [json.loads(x.body)["type"] for x in rx.accepted("/all")] == ["batch.completed"]
    finally:
        rx.stop()
    # the missing scan turns up; retry-failed re-queues what can be retried (not the duplicate)
    _upload_many(s3, src, [("m/gone.png", imaging.label("B99", size=24))])
    r = requests.post(f"{svc.url}/v1/batches/{bid}/retry-failed", headers=svc.headers(), timeout=10)
    assert r.status_code == 202 and r.json()["requeued"] == 2
    b = _wait_batch(svc, bid, 120)
    assert b["counts"]["succeeded"] == 5 and b["counts"]["failed"] == 2
    assert json.loads(s3.get_object(src, "out/m/gone.png.json").read())["text"].strip() == "B99"


def test_problems_buckets_and_tenants(s3_service) -> None:  # type: ignore[no-untyped-def]
    svc = s3_service(shared=True)
    h = svc.headers()
    body = {"source": {"bucket": "someone-elses", "prefix": ""}, "output": {"bucket": svc.src, "prefix": "o/"}}
    r = requests.post(f"{svc.url}/v1/batches", json=body, headers=h, timeout=10)
    assert (
        r.status_code == 403 and r.headers["Content-Type"].startswith("application/problem+json") and r.json()["title"]
    )
    body = {"source": {"bucket": svc.src, "prefix": ""}, "output": {"bucket": "someone-elses", "prefix": "o/"}}
    assert requests.post(f"{svc.url}/v1/batches", json=body, headers=h, timeout=10).status_code == 403
    bad = {"source": {"bucket": svc.src, "prefix": "x/", "manifest": "k.jsonl"}, "output": {"bucket": svc.src}}
    r = requests.post(f"{svc.url}/v1/batches", json=bad, headers=h, timeout=10)
    assert r.status_code in (400, 422) and r.headers["Content-Type"].startswith("application/problem+json")
    r = requests.post(
        f"{svc.url}/v1/batches",
        headers=h,
        timeout=10,
        json={"source": {"bucket": svc.src, "manifest": "nope.jsonl"}, "output": {"bucket": svc.src}},
    )
    assert r.status_code == 404 and r.json()["title"]
    for bad_format in ("docx", ["json", "tiff"], []):
        r = requests.post(
            f"{svc.url}/v1/batches",
            headers=h,
            timeout=10,
            json={"source": {"bucket": svc.src, "prefix": "x/"}, "output": {"bucket": svc.src}, "output_format": bad_format},
        )
        assert r.status_code == 422 and r.headers["Content-Type"].startswith("application/problem+json"), r.text
        assert r.json()["errors"][0]["field"] == "output_format"
        assert all(f in r.json()["detail"] for f in ("json", "text", "markdown", "hocr", "pdf")), r.json()
    other = svc.new_key(new_tenant("other"))
    r = requests.post(
        f"{svc.url}/v1/batches",
        headers=h,
        timeout=10,
        json={"source": {"bucket": svc.src, "prefix": "x/"}, "output": {"bucket": svc.src, "prefix": "o/"}},
    )
    assert r.status_code == 202
    bid = r.json()["id"]
    for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/failures"), ("POST", "/retry-failed")):
        resp = requests.request(method, f"{svc.url}/v1/batches/{bid}{path}", headers=svc.headers(other), timeout=10)
        assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("application/problem+json")
    done = _wait_batch(svc, bid, 30)  # an empty prefix completes with nothing to do
    assert done["status"] == "completed" and done["counts"]["planned"] == 0
    r = requests.delete(f"{svc.url}/v1/batches/{bid}", headers=h, timeout=10)
    assert r.status_code == 409 and r.headers["Content-Type"].startswith("application/problem+json")


def test_prefix_of_jpegs_a_pdf_and_a_tiff_on_s3_completes_with_page_counts_and_searchable_pdfs(  # type: ignore[no-untyped-def]
    s3_service, tmp_path
) -> None:
    """Acceptance 5 of the documents issue: a backfill over a prefix in a real S3 server mixing 2
    JPEGs, a 3-page PDF and a 2-page TIFF (and an encrypted PDF) completes with per-page counts and,
    asked for pdf, writes searchable PDFs whose text is each page's text."""
    from documents_data import engine_texts

    svc = s3_service(engine="checksum")
    src, s3 = svc.src, svc.s3
    pdf, tif = receipts_pdf(), tiff_of(SCANS[3:5])
    items = {
        "mixed/r0.jpg": (SCANS[0].read_bytes(), [expected_checksum(SCANS[0].read_bytes())]),
        "mixed/r1.jpg": (SCANS[1].read_bytes(), [expected_checksum(SCANS[1].read_bytes())]),
        "mixed/three.pdf": (pdf, engine_texts(pdf, [1, 2, 3])),
        "mixed/two.tif": (tif, engine_texts(tif, [1, 2])),
    }
    _upload_many(s3, src, [(k, v[0]) for k, v in items.items()] + [("mixed/locked.pdf", BAD_DOCUMENTS["mix/locked.pdf"][0])])
    env = {**svc.env, "OCRQ_URL": svc.url, "OCRQ_API_KEY": svc.api_key, "OCRQ_CLIENT_CONFIG": str(tmp_path / "c.json")}
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "backfill", f"s3://{src}/mixed/", "--out", f"s3://{src}/ocr/",
         "--format", "json", "--format", "pdf", "--wait", "--json", "--timeout", "240"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 1, run.stderr  # one item failed: non-zero exit, the batch completed
    b = json.loads(run.stdout)
    c = b["counts"]
    assert b["status"] == "completed" and b["output"]["formats"] == ["json", "pdf"], b
    assert (c["planned"], c["succeeded"], c["failed"], c["queued"], c["running"]) == (5, 4, 1, 0, 0), c
    assert (c["pages_total"], c["pages_done"], c["pages_failed"], c["pages_skipped"]) == (7, 7, 0, 0), c
    assert requests.get(f"{svc.url}/v1/batches/{b['id']}", headers=svc.headers(), timeout=10).json()["counts"] == c
    f = requests.get(f"{svc.url}/v1/batches/{b['id']}/failures", headers=svc.headers(), timeout=10).json()["items"]
    assert [(x["key"], x["code"]) for x in f] == [("mixed/locked.pdf", "encrypted_pdf")] and f[0]["message"]

    assert shutil.which("pdftotext"), "poppler-utils (pdftotext) is needed for this test"
    for key, (_, expected) in items.items():
        doc = json.loads(s3.get_object(src, f"ocr/{key}.json").read())
        assert [p["text"] for p in doc["pages"]] == expected, key
        out = s3.get_object(src, f"ocr/{key}.pdf").read()
        assert len(pdfium.PdfDocument(out)) == len(expected), key
        assert pdf_page_texts(out, tmp_path) == ["".join(e.split()) for e in expected], key
    rows = []
    for o in s3.list_objects(src, prefix=f"ocr/_ledger/{b['id']}/", recursive=True):
        rows += [json.loads(x) for x in s3.get_object(src, o.object_name).read().decode().splitlines()]
    assert sorted(r["key"] for r in rows) == sorted([*items, "mixed/locked.pdf"])
    assert all(r["outputs"] == [f"{src}/ocr/{r['key']}.json", f"{src}/ocr/{r['key']}.pdf"]
               for r in rows if r["status"] == "succeeded")


def test_the_batch_rate_and_eta_stay_steady_when_items_finish_in_bursts():
    # A window of jobs ends together, then the next is queued: 20 items every 10 s (2 items/s),
    # with the planner sampling every 2 s. The rate must neither read 0.0 between bursts nor swing.
    from workers.batch_close import rate_window

    items = secs = 0.0
    rates = []
    for tick in range(1, 151):  # 300 s
        items, secs = rate_window(items, secs, 20 if tick % 5 == 0 else 0, 2.0)
        if tick >= 5:  # from the first burst on
            rates.append(items / secs)
    steady = rates[26:]  # after the first minute
    assert min(rates) > 0 and max(rates) / min(rates) < 2.5  # never 0.0, never a 100x swing
    assert 1.8 < sum(steady) / len(steady) < 2.2  # the true 2 items/s
    assert max(steady) / min(steady) < 1.3  # so the ETA (remaining / rate) moves by under a third
    items, secs = rate_window(items, secs, 0, 300.0)
    assert items / secs < 0.01  # a batch that truly stopped decays to nothing
