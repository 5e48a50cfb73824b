"""The CLI with documents: `ocrq ocr FILE.pdf` in-process (the worker's page code) and
`ocrq submit FILE.pdf --wait --format F [-o OUT]` through the real service, on the checksum engine
(its answer for a page is a fingerprint of that page's pixels, so a page mix-up cannot pass).
The PDFs and TIFFs are made in the test from the receipt scans (see test_documents)."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from conftest import ROOT
from documents_data import encrypted, engine_texts, receipts_pdf, tiff_pages

XHTML = "{http://www.w3.org/1999/xhtml}"
CLI = [sys.executable, "-m", "cli.main"]


def _run(args: list[str], env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess[bytes]:  # type: ignore[no-untyped-def]
    full = {**os.environ, "OCRQ_ENGINE": "checksum", **(env or {})}
    return subprocess.run(CLI + args, cwd=ROOT, env=full, capture_output=True, timeout=180, **kw)


def _on_a_terminal(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run with stdout on a pseudo-terminal (as a person at a shell); (exit code, what it printed)."""
    main, child = pty.openpty()
    try:
        proc = subprocess.run(CLI + args, cwd=ROOT, env={**os.environ, "OCRQ_ENGINE": "checksum", **(env or {})},
                              stdout=child, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(child)
    os.set_blocking(main, False)
    try:
        shown = os.read(main, 65536)
    except (BlockingIOError, OSError):
        shown = b""
    os.close(main)
    return proc.returncode, proc.stderr.decode() + shown.decode(errors="replace")


def _pdftotext(path: Path) -> list[str]:
    assert shutil.which("pdftotext"), "poppler-utils (pdftotext) is needed for this test"
    out = subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    pages = out.split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    return ["".join(p.split()) for p in pages]


@pytest.fixture
def pdf_file(tmp_path: Path) -> Path:
    path = tmp_path / "scan.pdf"
    path.write_bytes(receipts_pdf())
    return path


def test_ocr_reads_every_page_of_a_pdf_and_a_tiff_as_a_worker_does(pdf_file: Path, tmp_path: Path) -> None:
    expected = engine_texts(pdf_file, [1, 2, 3])
    r = _run(["ocr", str(pdf_file), "--json"])
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert [p["page"] for p in result["pages"]] == [1, 2, 3]
    assert [p["text"] for p in result["pages"]] == expected and result["text"] == "\f".join(expected)

    # plain: the text, pages separated by form feeds (as pdftotext); --pages selects like the service
    r = _run(["ocr", str(pdf_file), "--pages", "3"])
    assert r.returncode == 0 and r.stdout.decode().rstrip("\n") == expected[2]

    # the searchable PDF, made by the same code as GET /v1/jobs/{id}/result?format=pdf
    out = tmp_path / "scan.ocr.pdf"
    r = _run(["ocr", str(pdf_file), "--format", "pdf", "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert len(pdfium.PdfDocument(str(out))) == 3
    assert _pdftotext(out) == ["".join(e.split()) for e in expected]

    # a TIFF of several pages is a document too; hOCR to stdout: one ocr_page per page
    tif = tmp_path / "scan.tif"
    tif.write_bytes(tiff_pages(corrupt_page=2))
    r = _run(["ocr", str(tif), "--format", "hocr"])
    assert r.returncode == 0, r.stderr
    pages = [el for el in ET.fromstring(r.stdout).iter(f"{XHTML}div") if el.get("class") == "ocr_page"]
    assert len(pages) == 3
    assert "page 2: page_unreadable" in r.stderr.decode()  # the corrupt page fails alone, and says so


def test_ocr_refuses_bad_documents_and_a_pdf_to_a_terminal(pdf_file: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(encrypted(receipts_pdf(), user="secret"))
    r = _run(["ocr", str(locked)])
    assert r.returncode == 1 and "encrypted_pdf" in r.stderr.decode()
    r = _run(["ocr", str(pdf_file), "--pages", "4-5"])
    assert r.returncode == 1 and "invalid_pages" in r.stderr.decode()
    code, shown = _on_a_terminal(["ocr", str(pdf_file), "--format", "pdf"])
    assert code == 2 and "-o FILE" in shown and "%PDF" not in shown
    assert len(shown.strip().splitlines()) == 1


def test_submit_wait_format_writes_the_result_in_that_format(make_service, pdf_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    svc = make_service(env={"OCRQ_ENGINE": "checksum"})
    env = {**svc.env, "OCRQ_URL": svc.url, "OCRQ_API_KEY": svc.api_key, "OCRQ_CLIENT_CONFIG": str(tmp_path / "c.json")}
    expected = engine_texts(pdf_file, [1, 2, 3])

    out = tmp_path / "scan.ocr.pdf"
    r = _run(["submit", str(pdf_file), "--wait", "--format", "pdf", "-o", str(out)], env=env)
    assert r.returncode == 0, r.stderr
    assert len(pdfium.PdfDocument(str(out))) == 3
    assert _pdftotext(out) == ["".join(e.split()) for e in expected]

    r = _run(["submit", str(pdf_file), "--wait", "--format", "text", "--pages", "1,3"], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "\f".join([expected[0], expected[2]])

    r = _run(["submit", str(pdf_file), "--format", "hocr"], env=env)  # --format implies waiting
    assert r.returncode == 0, r.stderr
    assert sum(1 for el in ET.fromstring(r.stdout).iter(f"{XHTML}div") if el.get("class") == "ocr_page") == 3

    r = _run(["submit", str(pdf_file), "--wait", "--format", "pdf"], env=env)  # stdout is a pipe: the bytes
    assert r.returncode == 0 and r.stdout.startswith(b"%PDF-")

    # a binary PDF is never written to a terminal: one line, non-zero, before anything is uploaded
    code, shown = _on_a_terminal(["submit", str(pdf_file), "--wait", "--format", "pdf"], env=env)
    assert code == 2 and "-o FILE" in shown and len(shown.strip().splitlines()) == 1

    r = _run(["submit", str(tmp_path / "missing.pdf"), "--wait", "--format", "pdf", "-o", str(out)], env=env)
    assert r.returncode == 2

    locked = tmp_path / "locked.pdf"
    locked.write_bytes(encrypted(receipts_pdf(), user="secret"))
    r = _run(["submit", str(locked), "--wait", "--format", "pdf", "-o", str(tmp_path / "x.pdf")], env=env)
    assert r.returncode == 1 and "422" in r.stderr.decode() and not (tmp_path / "x.pdf").exists()
