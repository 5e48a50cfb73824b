"""Documents in: sniffing, cheap inspection, page selection and page-by-page rendering (shared/intake/documents.py).

The PDFs are made here from the receipt scans (reportlab, pikepdf), so every case is a real file.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pikepdf
import pytest
from documents_data import SCANS, encrypted, receipts_pdf, tiff_pages
from PIL import Image, ImageChops, ImageStat
from reportlab.pdfgen import canvas

from shared.intake import documents as docs
from shared.intake import page_selection, rendering


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("docs") / "receipts.pdf"
    path.write_bytes(receipts_pdf())
    return path


# --- sniff and inspect ---------------------------------------------------------------------------


def test_sniff_reads_content_not_names() -> None:
    assert docs.sniff(receipts_pdf()[:1024]) == "pdf"
    assert docs.sniff(tiff_pages()[:16]) == "tiff"
    assert docs.sniff(b"MM\x00*" + b"\0" * 12) == "tiff"
    assert docs.sniff(SCANS[0].read_bytes()[:1024]) is None  # a JPEG named scan.pdf is not a PDF
    assert docs.sniff(b"hello, I am a text file\n") is None


def test_inspect_counts_pages_without_rendering() -> None:
    info = docs.inspect_document(receipts_pdf(blank_after=0), max_pages=500)
    assert (info.kind, info.content_type, info.pages_total) == ("pdf", "application/pdf", 4)
    assert not info.encrypted
    tiff = docs.inspect_document(tiff_pages(), max_pages=500)
    assert (tiff.kind, tiff.content_type, tiff.pages_total) == ("tiff", "image/tiff", 3)


def test_inspect_is_cheap_for_many_pages() -> None:
    data = receipts_pdf(extra_pages=297)  # 300 pages, one shared image
    started = time.perf_counter()
    assert docs.inspect_document(data, max_pages=500).pages_total == 300
    assert time.perf_counter() - started < 2.0  # no page is rendered: milliseconds in practice


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: encrypted(receipts_pdf(), user="secret"), "encrypted_pdf"),
        (lambda: receipts_pdf()[: len(receipts_pdf()) * 2 // 3], "damaged_document"),  # truncated upload
        (lambda: b"%PDF-1.7\n" + bytes(range(256)) * 20, "damaged_document"),
        (lambda: SCANS[0].read_bytes(), "not_a_document"),  # scan.jpg renamed scan.pdf
        (lambda: b"just some text, named invoice.pdf\n", "not_a_document"),
        (lambda: b"", "empty_document"),
        (lambda: tiff_pages()[:12], "damaged_document"),
    ],
    ids=["encrypted", "truncated", "garbage-after-header", "jpeg-named-pdf", "text", "empty", "truncated-tiff"],
)
def test_inspect_rejects_bad_documents_with_their_code(make, code: str) -> None:
    with pytest.raises(docs.DocumentError) as caught:
        docs.inspect_document(make(), max_pages=500)
    assert caught.value.code == code
    assert caught.value.message  # a sentence for the problem+json detail


def test_inspect_rejects_a_pdf_without_pages() -> None:
    out = io.BytesIO()
    pikepdf.new().save(out)
    with pytest.raises(docs.EmptyDocument) as caught:
        docs.inspect_document(out.getvalue(), max_pages=500)
    assert caught.value.code == "empty_document"


def test_inspect_rejects_too_many_pages_and_says_the_limit() -> None:
    with pytest.raises(docs.TooManyPages) as caught:
        docs.inspect_document(receipts_pdf(), max_pages=2)
    assert (caught.value.code, caught.value.limit, caught.value.pages) == ("too_many_pages", 2, 3)
    with pytest.raises(docs.TooManyPages):
        docs.inspect_document(tiff_pages(), max_pages=2)


def test_owner_password_only_pdf_is_readable_and_flagged() -> None:
    info = docs.inspect_document(encrypted(receipts_pdf(), user=""), max_pages=500)
    assert info.pages_total == 3 and info.encrypted


# --- parse_pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        ("", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        ("1-3,7", [1, 2, 3, 7]),
        (" 7 , 1 - 3 ", [1, 2, 3, 7]),
        ("3,1,3,2-3", [1, 2, 3]),
        ("10", [10]),
        ("4-4", [4]),
    ],
)
def test_parse_pages(spec: str | None, expected: list[int]) -> None:
    assert page_selection.parse_pages(spec, 10) == expected


@pytest.mark.parametrize("spec", ["0", "11", "3-1", "1-11", "a", "1,,2", "1-2-3", "-3", "2-", "1.5", "٣", "1;2"])
def test_parse_pages_rejects_malformed_or_out_of_range(spec: str) -> None:
    with pytest.raises(docs.InvalidPages) as caught:
        page_selection.parse_pages(spec, 10)
    assert caught.value.code == "invalid_pages"


# --- rendering -----------------------------------------------------------------------------------


def _similar(rendered: Image.Image, scan: Path) -> bool:
    with Image.open(scan) as original:
        expected = original.convert("L").resize((100, 200))
    diff = ImageChops.difference(rendered.convert("L").resize((100, 200)), expected)
    return ImageStat.Stat(diff).mean[0] < 8


def test_render_each_pdf_page_alone(pdf_path: Path) -> None:
    for number, scan in enumerate(SCANS, start=1):
        page = rendering.render_page(pdf_path, number, dpi=200, max_side=2048)
        with Image.open(scan) as im:
            w_pt, h_pt = im.size
        assert (page.width_pt, page.height_pt) == pytest.approx((w_pt, h_pt))
        assert (page.width, page.height) == (round(w_pt * 200 / 72), round(h_pt * 200 / 72))
        assert max(page.image.size) == 2048 and page.image.mode == "RGB"
        assert page.scale == pytest.approx(page.width / page.image.size[0])
        assert _similar(page.image, scan), f"page {number} is not its scan"


def test_render_from_bytes_and_in_process(pdf_path: Path) -> None:
    data = pdf_path.read_bytes()
    by_bytes = rendering.render_page(data, 2, max_side=800)
    local = rendering.render_page(pdf_path, 2, max_side=800, time_limit_s=None)
    assert by_bytes.image.size == local.image.size
    assert _similar(by_bytes.image, SCANS[1]) and _similar(local.image, SCANS[1])


def test_blank_page_renders_white_between_scans(tmp_path: Path) -> None:
    path = tmp_path / "mixed.pdf"
    path.write_bytes(receipts_pdf(blank_after=0))
    assert docs.inspect_document(path.read_bytes(), max_pages=10).pages_total == 4
    blank = rendering.render_page(path, 2, max_side=512)
    assert blank.image.convert("L").getextrema() == (255, 255)
    assert _similar(rendering.render_page(path, 3, max_side=512).image, SCANS[1])


def test_absurd_page_is_rendered_down_to_the_pixel_bound(tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    pdf = canvas.Canvas(str(path), pagesize=(200 * 72, 200 * 72))  # 200 x 200 inches
    pdf.setFont("Helvetica", 2000)
    pdf.drawString(1000, 7000, "HUGE")
    pdf.save()
    page = rendering.render_page(path, 1, dpi=200, max_side=2048, max_pixels=40_000_000)
    assert page.image.size == (2048, 2048)
    assert (page.width, page.height) == (40_000, 40_000)  # boxes stay in 200-dpi pixels
    assert page.image.convert("L").getextrema()[0] < 128  # the text is drawn, not a blank bitmap


def _slow_pdf(path: Path) -> None:
    # Many thousand strokes: seconds for PDFium, which nothing can interrupt in-process.
    strokes = b"".join(b"%d %d m %d %d l S " % (i % 600, i % 780, i * 7 % 600, i * 13 % 780) for i in range(20_000))
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(612, 792))
    pdf.pages[0].Contents = pdf.make_stream(b"0.1 w " + strokes * 20)
    pdf.save(path)


def test_slow_page_times_out_alone_and_the_renderer_recovers(tmp_path: Path, pdf_path: Path) -> None:
    slow = tmp_path / "slow.pdf"
    _slow_pdf(slow)
    renderer = rendering.PageRenderer()
    try:
        started = time.perf_counter()
        with pytest.raises(docs.RenderTimeout) as caught:
            renderer.render(slow, 1, time_limit_s=0.5)
        assert caught.value.code == "render_timeout"
        assert time.perf_counter() - started < 5
        assert renderer.pid is None  # the stuck renderer was killed, not left running
        page = renderer.render(pdf_path, 1, max_side=512, time_limit_s=30)
        assert _similar(page.image, SCANS[0])
    finally:
        renderer.close()


def test_page_out_of_range_is_an_error_for_that_page(pdf_path: Path) -> None:
    with pytest.raises(docs.InvalidPages):
        rendering.render_page(pdf_path, 4)
    with pytest.raises(docs.InvalidPages):
        rendering.render_page(pdf_path, 0)


def test_tiff_pages_render_by_seek(tmp_path: Path) -> None:
    path = tmp_path / "scans.tiff"
    path.write_bytes(tiff_pages())
    for number, scan in enumerate(SCANS, start=1):
        page = rendering.render_page(path, number, max_side=4096)
        with Image.open(scan) as im:
            w, h = im.reduce(2).size
        assert (page.width, page.height) == (w, h) and page.scale == 1
        assert (page.width_pt, page.height_pt) == pytest.approx((w * 72 / 150, h * 72 / 150))  # its 150-dpi tag
        assert _similar(page.image, scan)


def test_tiff_corrupt_page_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.tiff"
    path.write_bytes(tiff_pages(corrupt_page=2))
    assert docs.inspect_document(path.read_bytes(), max_pages=10).pages_total == 3  # the gateway accepts it
    with pytest.raises(docs.PageUnreadable) as caught:
        rendering.render_page(path, 2)
    assert caught.value.code == "page_unreadable"
    assert _similar(rendering.render_page(path, 1).image, SCANS[0])
    assert _similar(rendering.render_page(path, 3).image, SCANS[2])
