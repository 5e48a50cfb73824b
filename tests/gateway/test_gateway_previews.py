"""GET /v1/jobs/{id}/image?page=N: one page of a stored document as a small JPEG (api/previews.py),
through the gateway in-process (create_app + Flask's test client, a real redis-server); the PDFs
are made here from the receipt scans, as in test_documents."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import imaging
import pytest
import redis
from documents_data import SCANS, receipts_pdf
from PIL import Image, ImageChops, ImageOps, ImageStat
from problems import problem
from reportlab.pdfgen import canvas

from api import previews
from api.app import create_app
from shared.infra.settings import load_settings
from shared.tenants import KeyStore


class Gateway:
    def __init__(self, client, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def submit(self, data: bytes, name: str):
        resp = self.client.post("/v1/jobs", data={"file": (io.BytesIO(data), name)}, headers=self.headers,
                                content_type="multipart/form-data")
        assert resp.status_code == 202, resp.get_data(as_text=True)
        return resp.get_json()

    def image(self, job_id: str, query: str = ""):
        return self.client.get(f"/v1/jobs/{job_id}/image{query}", headers=self.headers)


@pytest.fixture
def gw(redis_db: str, tmp_path: Path) -> Iterator[Gateway]:
    settings = load_settings(redis_url=redis_db, storage_url=f"file://{tmp_path / 'blobs'}")
    app = create_app(settings, send_job=lambda job_id, queue: None)  # no worker: previews need none
    key = KeyStore(redis.Redis.from_url(redis_db)).create("acme", "test")[0]
    yield Gateway(app.test_client(), {"Authorization": f"Bearer {key}"})


def _difference(a: Image.Image, b: Image.Image) -> float:
    """Mean grey-level difference of two pictures brought to one small size."""
    size = (120, 240)
    a, b = (ImageOps.grayscale(im).resize(size) for im in (a, b))
    return ImageStat.Stat(ImageChops.difference(a, b)).mean[0]


def test_a_page_of_a_pdf_comes_back_as_a_small_jpeg_of_that_page(gw: Gateway) -> None:
    pdf = receipts_pdf()
    job = gw.submit(pdf, "receipts.pdf")
    assert job["pages_total"] == 3

    # without `page`: the stored input as submitted, unchanged
    whole = gw.image(job["id"])
    assert whole.status_code == 200 and whole.mimetype == "application/pdf" and whole.data == pdf

    scans = [Image.open(p) for p in SCANS]
    started = time.monotonic()
    for number, scan in enumerate(scans, start=1):
        r = gw.image(job["id"], f"?page={number}")
        assert r.status_code == 200, r.get_data(as_text=True)
        assert r.mimetype == "image/jpeg" and "max-age" in r.headers["Cache-Control"]
        page = Image.open(io.BytesIO(r.data))
        assert page.format == "JPEG" and max(page.size) <= previews.PREVIEW_MAX_SIDE
        # the page's shape (1 pt per scan pixel in this PDF), at the preview's resolution (not the worker's)
        expected_w = min(scan.size[0] * previews.PREVIEW_DPI / 72, previews.PREVIEW_MAX_SIDE * scan.size[0] / max(scan.size))
        assert abs(page.size[0] - expected_w) <= 1
        assert abs(page.size[0] / page.size[1] - scan.size[0] / scan.size[1]) < 0.01
        # and its picture: closer to its own scan than to any other page's (when the scans differ)
        own = _difference(page, scan)
        assert own < 20
        for other_number, other in enumerate(scans, start=1):
            if other_number != number and SCANS[other_number - 1] != SCANS[number - 1]:
                assert own < _difference(page, other)
    assert time.monotonic() - started < 30


def test_page_is_validated_before_anything_is_rendered(gw: Gateway) -> None:
    job = gw.submit(receipts_pdf(), "receipts.pdf")
    for bad in ("0", "-1", "abc", "1.5", "", " 2", "²", "9" * 5000):
        body = problem(gw.image(job["id"], f"?page={bad}"), 400, "invalid_query")
        assert "page" in body["detail"]
    body = problem(gw.image(job["id"], "?page=4"), 422, "invalid_pages")
    assert "3 page" in body["detail"]
    problem(gw.image(job["id"], "?page=1&page=2"), 400, "invalid_query")  # given twice: ambiguous
    problem(gw.image("job_doesnotexist000000000000", "?page=1"), 404, "job_not_found")

    # an image job is one page: page 1 is the image itself, page 2 does not exist
    png = imaging.label("ONE PAGE")
    one = gw.submit(png, "label.png")
    r = gw.image(one["id"], "?page=1")
    assert r.status_code == 200 and r.data == png and r.mimetype == "image/png"
    problem(gw.image(one["id"], "?page=2"), 422, "invalid_pages")


def test_a_huge_page_and_a_multipage_tiff_stay_within_the_preview_bound(gw: Gateway) -> None:
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    pdf.setPageSize((200 * 72, 200 * 72))  # 200 x 200 inches: 40 000 x 40 000 px at 200 dpi
    pdf.rect(100, 100, 5000, 5000, fill=1)
    pdf.showPage()
    pdf.save()
    job = gw.submit(buf.getvalue(), "poster.pdf")
    started = time.monotonic()
    r = gw.image(job["id"], "?page=1")
    assert r.status_code == 200, r.get_data(as_text=True)
    assert Image.open(io.BytesIO(r.data)).size == (previews.PREVIEW_MAX_SIDE, previews.PREVIEW_MAX_SIDE)
    assert time.monotonic() - started < previews.PREVIEW_TIME_LIMIT_S

    tiff = gw.submit(imaging.multipage_tiff(3), "pages.tiff")
    assert tiff["pages_total"] == 3
    r = gw.image(tiff["id"], "?page=3")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(r.data)).size) <= previews.PREVIEW_MAX_SIDE


def test_a_busy_renderer_answers_503_with_retry_after_instead_of_holding_the_thread(
    gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = gw.submit(receipts_pdf(), "receipts.pdf")
    monkeypatch.setattr(previews, "PREVIEW_WAIT_S", 0.2)
    assert previews._slot.acquire(timeout=5)  # another request is rendering
    try:
        started = time.monotonic()
        r = gw.image(job["id"], "?page=1")
        assert time.monotonic() - started < 2
    finally:
        previews._slot.release()
    problem(r, 503, "preview_busy")
    assert r.headers["Retry-After"] == "1"
    assert gw.image(job["id"], "?page=1").status_code == 200  # free again: rendered
