"""Result exports (shared/results/renderers.py): text, Markdown, hOCR and the searchable PDF, checked with poppler."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from conftest import RECEIPTS
from PIL import Image

from shared.results import renderers as exports

SCANS = (sorted(RECEIPTS.glob("*.jpg")) * 3)[:3]  # 3 pages: kit scans, or the repo example
XHTML = "{http://www.w3.org/1999/xhtml}"
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (pdftotext)")


def page_result(number: int, scan: Path) -> dict[str, Any]:
    """A page as a worker would store it, with the scan's annotated lines as the recognised lines."""
    lines = []
    with open(scan.with_suffix(".lines.csv"), newline="") as f:
        for row in csv.reader(f):
            # The annotations hold a few lines twice, one over the other; an engine reports them once.
            if len(row) < 9 or not ",".join(row[8:]).strip() or any(ln["text"] == ",".join(row[8:]) for ln in lines):
                continue
            xs, ys = [int(v) for v in row[0:8:2]], [int(v) for v in row[1:8:2]]
            lines.append({"text": ",".join(row[8:]), "box": [min(xs), min(ys), max(xs), max(ys)], "confidence": 0.9})
    with Image.open(scan) as im:
        width, height = im.size
    text = "\n".join(line["text"] for line in lines)
    return {"page": number, "width": width, "height": height, "text": text, "lines": lines, "markdown": text}


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    pages = [page_result(n, scan) for n, scan in enumerate(SCANS, start=1)]
    return {"pages": pages, "text": exports.join_text(pages)}


def scan_images() -> Iterator[Image.Image]:
    for scan in SCANS:
        with Image.open(scan) as im:
            yield im.convert("RGB")


def test_text_joins_pages_with_form_feed(result: dict[str, Any]) -> None:
    text = exports.to_text(result)
    assert text.split("\f") == [p["text"] for p in result["pages"]]
    assert text == result["text"]


def test_markdown_keeps_pages_apart(result: dict[str, Any]) -> None:
    parts = exports.to_markdown(result).split("\n\n\f\n\n")
    assert parts == [p["markdown"] for p in result["pages"]]


def test_single_image_result_without_pages_exports_as_one_page() -> None:
    single = {
        "text": "TOTAL 9.00",
        "lines": [{"text": "TOTAL 9.00", "box": [1, 2, 30, 12]}],
        "image": {"width": 40, "height": 20},
    }
    assert exports.to_text(single) == "TOTAL 9.00"
    root = ET.fromstring(exports.to_hocr(single))
    page = root.find(f".//{XHTML}div[@class='ocr_page']")
    assert page is not None and page.get("title") == "bbox 0 0 40 20; ppageno 0"


def test_hocr_is_xhtml_with_the_line_boxes(result: dict[str, Any]) -> None:
    hocr = exports.to_hocr(result)
    root = ET.fromstring(hocr.encode())  # well-formed XML, or this raises
    assert root.tag == f"{XHTML}html"
    pages = root.findall(f".//{XHTML}div[@class='ocr_page']")
    assert len(pages) == len(result["pages"])
    for page_el, page in zip(pages, result["pages"], strict=True):
        assert page_el.get("title", "").startswith(f"bbox 0 0 {page['width']} {page['height']}")
        line_els = page_el.findall(f"{XHTML}span[@class='ocr_line']")
        assert len(line_els) == len(page["lines"])
        for line_el, line in zip(line_els, page["lines"], strict=True):
            bbox = re.match(r"bbox (\d+) (\d+) (\d+) (\d+)", line_el.get("title", ""))
            assert bbox is not None and [int(v) for v in bbox.groups()] == line["box"]
            words = [w.text for w in line_el.findall(f"{XHTML}span[@class='ocrx_word']")]
            assert words == line["text"].split()


def test_hocr_survives_markup_and_control_characters() -> None:
    nasty = {"pages": [{"page": 1, "width": 10, "height": 10, "text": "", "lines": [
        {"text": "<b>a & b</b>\x00\x07 ü", "box": [0, 0, 9, 9]}]}]}  # fmt: skip
    root = ET.fromstring(exports.to_hocr(nasty).encode())
    words = [w.text for w in root.iter(f"{XHTML}span") if w.get("class") == "ocrx_word"]
    assert words == ["<b>a", "&", "b</b>", "ü"]


def _pdftotext(path: Path, *args: str) -> str:
    return subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True, check=True).stdout


@needs_poppler
def test_searchable_pdf_text_per_page_in_order(result: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "out.pdf"
    path.write_bytes(exports.to_searchable_pdf(result, scan_images()))
    pages_text = _pdftotext(path).split("\f")
    assert len([t for t in pages_text if t.strip()]) == len(result["pages"])
    for page_text, page in zip(pages_text, result["pages"], strict=False):
        found = page_text.split()
        for line in page["lines"]:
            for word in line["text"].split():
                assert word in found, f"page {page['page']}: {word!r} not in pdftotext output"
    # Page order: each page's first line is found on that page and on no earlier one.
    for index, page in enumerate(result["pages"]):
        first = page["lines"][0]["text"].split()[0]
        assert first in pages_text[index].split()
    doc = pdfium.PdfDocument(str(path))
    assert len(doc) == len(result["pages"])
    for pdf_page, page in zip(doc, result["pages"], strict=True):
        assert pdf_page.get_size() == pytest.approx((page["width"], page["height"]))  # image input: 72 dpi


@needs_poppler
def test_searchable_pdf_words_sit_on_their_boxes(result: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "out.pdf"
    path.write_bytes(exports.to_searchable_pdf(result, scan_images()))
    bbox_html = _pdftotext(path, "-bbox", "-f", "1", "-l", "1")
    root = ET.fromstring(bbox_html.replace("<!DOCTYPE", "<!-- ").replace('.dtd">', '.dtd" -->'))
    words = [(w.text, float(w.get("xMin", 0)), float(w.get("yMin", 0))) for w in root.iter() if w.tag.endswith("word")]
    line = result["pages"][0]["lines"][0]
    x0, y0, x1, y1 = line["box"]
    first = next(w for w in words if w[0] == line["text"].split()[0])
    assert abs(first[1] - x0) < 3 and y0 - 3 < first[2] < y1  # 1 px = 1 pt for an image input


@needs_poppler
def test_searchable_pdf_keeps_pdf_page_sizes_and_failed_pages(tmp_path: Path) -> None:
    page = page_result(1, SCANS[0])
    a4 = dict(page, width_pt=595.28, height_pt=841.89)  # a PDF input: its size in points
    failed = {"page": 2, "width": 1654, "height": 2339, "width_pt": 595.28, "height_pt": 841.89, "text": "",
              "lines": [], "error": {"code": "render_timeout"}}  # fmt: skip
    path = tmp_path / "doc.pdf"
    images = iter([next(scan_images()), None])
    path.write_bytes(exports.to_searchable_pdf({"pages": [a4, failed]}, images))
    doc = pdfium.PdfDocument(str(path))
    assert [p.get_size() for p in doc] == [pytest.approx((595.28, 841.89))] * 2
    text = _pdftotext(path).split("\f")
    assert page["lines"][0]["text"].split()[0] in text[0] and not text[1].strip()


def test_searchable_pdf_pulls_page_images_one_at_a_time(result: dict[str, Any]) -> None:
    produced: list[int] = []

    def images() -> Iterator[Image.Image]:
        for index, image in enumerate(scan_images()):
            produced.append(index)
            yield image

    exports.to_searchable_pdf(result, images())
    assert produced == [0, 1, 2]  # one image per page, in order, from a generator (never a list)


def _scans_pdf(path: Path, *, rotate_first: int = 0) -> None:
    """The scans as PDF pages of their pixel size in points (what an archive scanner writes)."""
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), invariant=1)
    for scan in SCANS:
        with Image.open(scan) as im:
            size = im.size
        pdf.setPageSize(size)
        pdf.drawImage(str(scan), 0, 0, *size)
        pdf.showPage()
    pdf.save()
    if rotate_first:
        doc = pdfium.PdfDocument(path.read_bytes())
        doc[0].set_rotation(rotate_first)
        buf = io.BytesIO()
        doc.save(buf)
        doc.close()
        path.write_bytes(buf.getvalue())


@needs_poppler
def test_a_pdf_input_is_made_searchable_on_its_own_pages_without_rendering(
    result: dict[str, Any], tmp_path: Path
) -> None:
    source = tmp_path / "in.pdf"
    _scans_pdf(source)
    # The worker read the pages at 200 dpi: boxes in those pixels, scaled back onto the points.
    k = 200 / 72
    scaled = {"pages": [{**p, "width": round(p["width"] * k), "height": round(p["height"] * k),
                         "lines": [{**ln, "box": [round(v * k) for v in ln["box"]]} for ln in p["lines"]]}
                        for p in result["pages"]]}
    selected = {"pages": [scaled["pages"][2], scaled["pages"][0]]}  # pages="3,1": that order
    assert not exports.needs_render(source.read_bytes(), [3, 1])
    out = tmp_path / "out.pdf"
    out.write_bytes(exports.searchable_pdf_from_pdf(source.read_bytes(), selected))

    run = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True)
    assert run.stderr == ""  # a well-formed PDF: no reader complaint (such as an unknown font)
    pages_text = run.stdout.split("\f")
    for page_text, page in zip(pages_text, selected["pages"], strict=False):
        found = page_text.split()
        assert all(w in found for line in page["lines"] for w in line["text"].split())
    src, doc = pdfium.PdfDocument(str(source)), pdfium.PdfDocument(str(out))
    assert len(doc) == 2
    for out_index, src_index in ((0, 2), (1, 0)):
        assert doc[out_index].get_size() == pytest.approx(src[src_index].get_size())
        # The page is the input's own, untouched: it renders to the same pixels (the text is invisible).
        a = doc[out_index].render(scale=0.25).to_pil().convert("RGB")
        b = src[src_index].render(scale=0.25).to_pil().convert("RGB")
        assert a.size == b.size and a.tobytes() == b.tobytes()
    # A word sits where its box is (1 pt = 1 px of the scan here).
    bbox_html = _pdftotext(out, "-bbox", "-f", "2", "-l", "2")
    root = ET.fromstring(bbox_html.replace("<!DOCTYPE", "<!-- ").replace('.dtd">', '.dtd" -->'))
    words = [(w.text, float(w.get("xMin", 0))) for w in root.iter() if w.tag.endswith("word")]
    line = result["pages"][0]["lines"][0]
    first = next(w for w in words if w[0] == line["text"].split()[0])
    assert abs(first[1] - line["box"][0]) < 3


def test_a_rotated_pdf_page_takes_the_rendering_path(tmp_path: Path) -> None:
    source = tmp_path / "rotated.pdf"
    _scans_pdf(source, rotate_first=90)
    assert exports.needs_render(source.read_bytes(), [1])
    assert not exports.needs_render(source.read_bytes(), [2, 3])
