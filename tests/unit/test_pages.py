"""A document's pages as work any worker runs (shared/jobs/pages.py + the runner), against a real
Redis and a local store: the page messages a worker would get are kept in a list and delivered by
the test, in whatever order, twice, or to a worker that "died", as a broker could."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import time

import pytest
from reportlab.pdfgen import canvas

from models.base import EngineRequest
from models.checksum import ChecksumEngine
from shared.infra.blobs import BlobNotFound, LocalBlobStore, input_key, page_result_key
from shared.infra.redis_client import connect
from shared.infra.settings import load_settings
from shared.intake.rendering import render_page
from shared.jobs import InputRef, Job, Status, new_job_id
from shared.jobs.lifecycle import cancel
from shared.jobs.pages import PAGES_OWNER, PageStore
from shared.jobs.store import JobStore
from shared.jobs.task_spec import TaskSpec
from shared.webhooks.events import job_event_data
from shared.webhooks.outbox import Outbox
from workers.runner import JobRunner


def pages_pdf(n: int) -> bytes:
    """n pages, each its own size, so the checksum engine's answer names the page it read."""
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, invariant=1)
    for i in range(n):
        pdf.setPageSize((100 + 7 * i, 140))
        pdf.drawString(10, 70, f"page {i + 1}")
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


class CountingEngine(ChecksumEngine):
    def __init__(self) -> None:
        self.images = 0
        self.batches: list[int] = []

    def run(self, requests):  # type: ignore[no-untyped-def]
        self.images += len(requests)
        self.batches.append(len(requests))
        return super().run(requests)


class Sent(list):
    """The broker: page messages in the order they were sent."""

    def __call__(self, job_id: str, page: int, queue: str) -> None:
        self.append((job_id, page, queue))


@pytest.fixture
def env(redis_db, tmp_path):
    settings = load_settings(redis_url=redis_db, storage_url=f"file://{tmp_path}", max_attempts=3, pdf_dpi=72)
    store = JobStore(connect(redis_db), 3600)
    return settings, store, LocalBlobStore(tmp_path, "ocrq")


def submit_pdf(store, blobs, data: bytes, pages: int, *, priority: str = "bulk", selected=None) -> str:
    sha = hashlib.sha256(data).hexdigest()
    blobs.put(input_key("acme", sha), data)
    job = Job(id=new_job_id(), tenant="acme", priority=priority, pages_total=pages, pages=selected,
              input=InputRef(bucket="ocrq", key=input_key("acme", sha), sha256=sha, bytes=len(data),
                             content_type="application/pdf", width=0, height=0))
    store.create(job)
    return job.id


def runner(env, sent, engine=None, name="w1", finished=None):
    settings, store, blobs = env
    return JobRunner(settings, store, blobs, engine or CountingEngine(), worker=f"{name}:1", send_page=sent,
                     on_finished=[finished.append] if finished is not None else [])


def fanned_out(env, pages: int):
    """A bulk document of ``pages`` pages, claimed and fanned out by worker "a": (job id, its page
    messages, that worker's runner)."""
    settings, store, blobs = env
    job_id = submit_pdf(store, blobs, pages_pdf(pages), pages)
    sent = Sent()
    a = runner(env, sent, name="a")
    a.run(job_id)
    return job_id, sent, a


def expected_texts(data: bytes, n: int, settings) -> list[str]:
    """The engine's answer for each page image, rendered as the worker renders it."""
    texts = []
    for i in range(1, n + 1):
        page = render_page(data, i, dpi=settings.pdf_dpi, max_side=settings.max_side,
                           max_pixels=settings.max_pixels, time_limit_s=None)
        texts.append(ChecksumEngine().run([EngineRequest(page.image, TaskSpec())])[0].text)
    return texts


def dead_worker() -> str:
    """The identity of a worker on this host whose process is gone."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}"


def now_ms() -> int:
    return int(time.time() * 1000)


def test_a_document_fans_out_and_two_workers_read_its_pages_each_exactly_once(env):
    settings, store, blobs = env
    data = pages_pdf(6)
    job_id = submit_pdf(store, blobs, data, 6)
    sent, finished = Sent(), []
    a, b = runner(env, sent, name="a", finished=finished), runner(env, sent, name="b", finished=finished)

    assert a.run(job_id).status == "fanned_out"
    job = store.get(job_id)
    assert job.status == Status.running and job.worker == PAGES_OWNER
    assert job.progress == {"pages_done": 0, "pages_total": 6}
    assert sent == [(job_id, n, "bulk") for n in range(1, 7)]  # on the job's own lane

    outcomes = [(a if i % 2 else b).run_page_work(j, n).status for i, (j, n, _) in enumerate(sent)]
    assert outcomes == ["page_done"] * 5 + ["succeeded"]
    job = store.get(job_id)
    assert job.status == Status.succeeded and job.progress == {"pages_done": 6, "pages_total": 6}
    assert job.pages_failed == 0 and not job.needs_review
    doc = json.loads(blobs.get(job.result_key))
    assert [p["page"] for p in doc["pages"]] == [1, 2, 3, 4, 5, 6]
    assert [p["text"] for p in doc["pages"]] == expected_texts(data, 6, settings)
    assert doc["text"] == "\f".join(p["text"] for p in doc["pages"])
    assert a.engine.images + b.engine.images == 6  # no page read twice
    assert [p.attempts for p in PageStore(store.r, 3600).all(job_id)] == [1] * 6
    assert len(finished) == 1  # one job.succeeded, not one per page
    # the page results live on in the job's result only
    for n in range(1, 7):
        with pytest.raises(BlobNotFound):
            blobs.get(page_result_key("acme", job_id, n))

    # A duplicate of every page message (a broker redelivery) changes nothing.
    assert {a.run_page_work(j, n).status for j, n, _ in sent} == {"skipped"}
    assert a.engine.images + b.engine.images == 6 and len(finished) == 1


def test_a_page_whose_worker_died_is_taken_over_and_counted_once(env):
    settings, store, blobs = env
    job_id, sent, a = fanned_out(env, 3)
    # A worker on this host claimed page 2 and died (its pid no longer exists).
    pages = PageStore(store.r, 3600)
    now = now_ms()
    grabbed = pages.claim(job_id, 2, dead_worker(), now=now, lease_until=now + 60_000, max_attempts=3)
    assert grabbed.run
    # Its message comes back (reject_on_worker_lost): taken over at once, the lease notwithstanding.
    outcomes = [a.run_page_work(j, n).status for j, n, _ in sent]
    assert outcomes[-1] == "succeeded"
    assert [p.attempts for p in pages.all(job_id)] == [1, 2, 1]
    assert a.engine.images == 3
    assert store.get(job_id).progress == {"pages_done": 3, "pages_total": 3}


def test_a_page_held_by_a_live_worker_is_retried_after_its_lease(env):
    settings, store, blobs = env
    job_id, sent, a = fanned_out(env, 2)
    pages = PageStore(store.r, 3600)
    now = now_ms()
    assert pages.claim(job_id, 1, f"{socket.gethostname()}:{os.getpid()}", now=now, lease_until=now + 20_000,
                       max_attempts=3).run
    out = a.run_page_work(job_id, 1)
    assert out.status == "retry" and 15 < out.retry_in <= 21
    assert a.engine.images == 0


def test_the_attempt_cap_counts_per_page_and_fails_only_that_page(env):
    settings, store, blobs = env
    job_id, sent, a = fanned_out(env, 3)
    pages = PageStore(store.r, 3600)
    for attempt in range(settings.max_attempts):  # page 3 crashed its worker every time
        now = now_ms()
        held = pages.get(job_id, 3)
        c = pages.claim(job_id, 3, dead_worker(), now=now, lease_until=now + 60_000,
                        max_attempts=settings.max_attempts, dead_owner=held.worker or "")
        assert c.run and c.attempt == attempt + 1
    finished: list[Job] = []
    a.on_finished = [finished.append]
    statuses = [a.run_page_work(j, n).status for j, n, _ in sent]
    assert statuses[-1] == "succeeded"
    job = store.get(job_id)
    assert job.pages_failed == 1 and job.needs_review and job.review_reasons == ["pages_failed"]
    # The one job.succeeded event of the document says so (no event per page).
    assert len(finished) == 1
    event = job_event_data(finished[0], Outbox(store.r, settings), blobs)["job"]
    assert (event["pages_total"], event["pages_failed"], event["needs_review"]) == (3, 1, True)
    assert event["review_reasons"] == ["pages_failed"]
    doc = json.loads(blobs.get(job.result_key))
    assert doc["pages"][2]["error"]["code"] == "attempts_exhausted"
    assert doc["pages"][0]["error"] is None and doc["pages"][1]["error"] is None


def test_cancel_stops_the_pages_not_yet_started(env):
    settings, store, blobs = env
    job_id = submit_pdf(store, blobs, pages_pdf(5), 5, priority="interactive")
    sent, finished = Sent(), []
    a = runner(env, sent, name="a", finished=finished)
    a.run(job_id)
    assert a.run_page_work(job_id, 1).status == "page_done"
    assert a.run_page_work(job_id, 2).status == "page_done"
    job = cancel(store, Outbox(store.r, settings), store.get(job_id))
    assert job.status == Status.canceled
    assert {a.run_page_work(j, n).status for j, n, _ in sent[2:]} == {"skipped"}
    assert a.engine.images == 2  # pages 3-5 never read
    assert store.get(job_id).status == Status.canceled and finished == []
    # What pages 1 and 2 stored goes with the job at its expiry: no page result is left behind.
    from workers.reaper import expire_once

    assert blobs.get(page_result_key("acme", job_id, 1))
    expire_once(store, blobs, now=store.get(job_id).expires_at + 1)
    assert store.get(job_id) is None and PageStore(store.r, 3600).all(job_id) == []
    for n in (1, 2):
        with pytest.raises(BlobNotFound):
            blobs.get(page_result_key("acme", job_id, n))


def test_a_lost_page_message_goes_out_again_when_the_job_message_comes_back(env):
    settings, store, blobs = env
    job_id = submit_pdf(store, blobs, pages_pdf(4), 4, selected=[2, 4])
    sent = Sent()
    a = runner(env, sent, name="a")

    def lose_sends(job_id, page, queue):
        raise ConnectionError("broker down")

    a.send_page = lose_sends
    with pytest.raises(ConnectionError):
        a.run(job_id)
    a.send_page = sent
    # The reaper sends the job message again once its lease runs out; the pages never marked sent go.
    assert a.run(job_id).status == "fanned_out"
    assert [n for _, n, _ in sent] == [2, 4]
    # A third delivery with the pages' messages out sends nothing more.
    a.run(job_id)
    assert [n for _, n, _ in sent] == [2, 4]
    assert [a.run_page_work(j, n).status for j, n, _ in sent] == ["page_done", "succeeded"]
    job = store.get(job_id)
    assert job.status == Status.succeeded and job.progress == {"pages_done": 2, "pages_total": 2}


def test_the_last_page_s_worker_dying_before_assembly_is_recovered_by_the_job_message(env):
    settings, store, blobs = env
    job_id, sent, a = fanned_out(env, 2)
    a._assemble = lambda job_id: None  # type: ignore[method-assign]  # dies between the page and the job
    for j, n, _ in sent:
        a.run_page_work(j, n)
    assert store.get(job_id).status == Status.running
    b = runner(env, Sent(), name="b")
    assert b.run(job_id).status == "succeeded"  # the reaper's re-sent job message assembles it


def test_without_a_queue_the_runner_reads_every_page_itself(env):
    settings, store, blobs = env
    data = pages_pdf(3)
    job_id = submit_pdf(store, blobs, data, 3)
    r = JobRunner(settings, store, blobs, ChecksumEngine(), worker="solo:1")
    assert r.run(job_id).status == "succeeded"
    job = store.get(job_id)
    assert [p["text"] for p in json.loads(blobs.get(job.result_key))["pages"]] == expected_texts(data, 3, settings)


def test_the_micro_batcher_reads_pages_of_one_document_in_one_engine_batch(env):
    from concurrent.futures import ThreadPoolExecutor

    from workers.microbatcher import Batcher

    settings, store, blobs = env
    data = pages_pdf(4)
    job_id = submit_pdf(store, blobs, data, 4)
    sent = Sent()
    a = runner(env, sent, name="a")
    a.run(job_id)
    batcher = Batcher(a, batch_max=4, wait_ms=500)
    with ThreadPoolExecutor(4) as pool:  # the threads pool: four page messages in flight at once
        outcomes = list(pool.map(lambda m: batcher.submit_page(m[0], m[1]).status, sent))
    assert sorted(outcomes) == ["page_done"] * 3 + ["succeeded"]
    assert a.engine.batches == [4]  # one engine call for the four pages
    doc = json.loads(blobs.get(store.get(job_id).result_key))
    assert [p["text"] for p in doc["pages"]] == expected_texts(data, 4, settings)


def label_pdf(label_names: list[str]) -> tuple[bytes, dict[str, dict]]:
    """A delivery note: page 1 text only, then one generated label per page (1 px = 1 pt)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import make_labels as ml
    from reportlab.lib.utils import ImageReader

    wanted = {name: (im, expected) for name, im, expected in ml.labels() if name in label_names}
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, invariant=1)
    pdf.setPageSize((300, 200))
    pdf.drawString(20, 100, "DELIVERY NOTE 4711")
    pdf.showPage()
    for name in label_names:
        im, _ = wanted[name]
        pdf.setPageSize(im.size)
        pdf.drawImage(ImageReader(im.convert("RGB")), 0, 0, *im.size)
        pdf.showPage()
    pdf.save()
    return buf.getvalue(), {name: expected for name, (_, expected) in wanted.items()}


def test_barcodes_are_decoded_per_page_of_a_short_document_and_a_fault_needs_review(env):
    settings, store, blobs = env
    settings = settings.model_copy(update={"pdf_dpi": 72})  # 1 pt = 1 px: the label as generated
    data, expected = label_pdf(["gs1_128_sscc", "fault_check_digit"])
    job_id = submit_pdf(store, blobs, data, 3)
    r = JobRunner(settings, store, blobs, ChecksumEngine(), worker="solo:1")
    assert r.run(job_id).status == "succeeded"
    job = store.get(job_id)
    doc = json.loads(blobs.get(job.result_key))
    assert doc["pages"][0]["barcodes"] == []
    sscc = doc["pages"][1]["barcodes"]
    want = expected["gs1_128_sscc"]["symbols"][0]
    assert [(b["format"], b["text"]) for b in sscc] == [(want["format"], want["text"])]
    assert sscc[0]["gs1"]["valid"] and sscc[0]["gs1"]["fields"]["sscc"] == want["fields"]["sscc"]
    fault = doc["pages"][2]["barcodes"]
    assert fault and fault[0]["gs1"]["valid"] is False
    assert job.needs_review and "check_digit" in job.review_reasons
    assert doc["needs_review"] and "check_digit" in doc["review_reasons"]


def test_barcodes_auto_leaves_long_documents_alone_and_on_reads_every_page(env):
    settings, store, blobs = env
    data, _ = label_pdf(["gs1_128_sscc"] * 6)
    settings = settings.model_copy(update={"pdf_dpi": 72})
    auto = submit_pdf(store, blobs, data, 7)
    on_job = Job(id=new_job_id(), tenant="acme", pages_total=7, spec=TaskSpec(barcodes="on"),
                 input=store.get(auto).input)
    store.create(on_job)
    r = JobRunner(settings, store, blobs, ChecksumEngine(), worker="solo:1")
    assert r.run(auto).status == "succeeded" and r.run(on_job.id).status == "succeeded"
    auto_doc = json.loads(blobs.get(store.get(auto).result_key))
    on_doc = json.loads(blobs.get(store.get(on_job.id).result_key))
    assert all(p["barcodes"] is None for p in auto_doc["pages"])  # 7 pages > BARCODES_AUTO_MAX_PAGES
    assert [len(p["barcodes"]) for p in on_doc["pages"]] == [0, 1, 1, 1, 1, 1, 1]


def test_the_reaper_resends_only_the_page_messages_that_look_lost(env):
    from workers.reaper import reap_once

    settings, store, blobs = env
    job_id, sent, a = fanned_out(env, 3)
    assert a.run_page_work(job_id, 1).status == "page_done"
    pages = PageStore(store.r, 3600)
    now = now_ms()
    # Page 2 is held by a worker on another host that went silent (its lease ran out); page 3's
    # message is merely waiting in a queue.
    assert pages.claim(job_id, 2, "other-host:42", now=now, lease_until=now - 1, max_attempts=3).run
    jobs, page_msgs = [], Sent()
    later = now + 60_000  # a whole lease with no page moving
    reap_once(store, lambda j, q: jobs.append(j), settings.lease_s, later, queued_resend_s=900, send_page=page_msgs)
    assert jobs == [] and page_msgs == [(job_id, 2, "bulk")]
    # The re-sent page is taken over (lease expired) and read; page 3 finishes the document.
    assert a.run_page_work(job_id, 2).status == "page_done"
    assert a.run_page_work(job_id, 3).status == "succeeded"
    assert [p.attempts for p in pages.all(job_id)] == [1, 2, 1]


def test_the_reaper_sends_a_document_whose_pages_are_done_to_be_assembled(env):
    from workers.reaper import reap_once

    settings, store, blobs = env
    job_id, sent, a = fanned_out(env, 2)
    a._assemble = lambda job_id: None  # type: ignore[method-assign]  # dies between the last page and the job
    for j, n, _ in sent:
        a.run_page_work(j, n)
    jobs, page_msgs = [], Sent()
    reap_once(store, lambda j, q: jobs.append(j), settings.lease_s, now_ms() + 60_000, send_page=page_msgs)
    assert jobs == [job_id] and page_msgs == []
    assert runner(env, Sent(), name="b").run(job_id).status == "succeeded"


def test_a_fields_answer_on_a_page_that_contradicts_its_barcode_needs_review(env):
    from runner_harness import FieldsEngine

    settings, store, blobs = env
    settings = settings.model_copy(update={"pdf_dpi": 72})
    data, expected = label_pdf(["gs1_128_sscc"])
    wrong = "0" * 17 + "0"  # an SSCC with a valid check digit that is not the label's
    assert wrong != expected["gs1_128_sscc"]["symbols"][0]["fields"]["sscc"]
    sha = hashlib.sha256(data).hexdigest()
    blobs.put(input_key("acme", sha), data)
    job = Job(id=new_job_id(), tenant="acme", pages_total=2, spec=TaskSpec(task="fields", fields=("sscc",)),
              input=InputRef(bucket="ocrq", key=input_key("acme", sha), sha256=sha, bytes=len(data),
                             content_type="application/pdf", width=0, height=0))
    store.create(job)
    r = JobRunner(settings, store, blobs, FieldsEngine({"sscc": wrong}), worker="solo:1")
    assert r.run(job.id).status == "succeeded"
    done = store.get(job.id)
    assert done.needs_review and done.review_reasons == ["answer_mismatch"]


class _NoEngine:
    """An engine the barcodes task must never call."""

    name, version, tasks = "none", "1", frozenset({"text"})

    def run(self, requests):  # type: ignore[no-untyped-def]
        raise AssertionError("the barcodes task called the OCR engine")


def test_a_barcodes_page_whose_decoder_breaks_fails_alone_and_the_engine_is_never_called(monkeypatch) -> None:
    from models import page_reader as runner_mod
    from models.page_reader import PageReader

    reader = PageReader(load_settings(), _NoEngine())  # type: ignore[arg-type]
    spec = TaskSpec(task="barcodes")
    data = pages_pdf(2)
    ok = reader.run_page(data, 1, spec)
    assert ok.error is None and ok.barcodes == [] and ok.text == ""  # no symbol on the page: not an error

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(runner_mod, "find_barcodes", broken)
    bad = reader.run_page(data, 2, spec)
    assert bad.error is not None and bad.error.code == "barcode_error" and "decoder bug" in bad.error.message
