"""Documents made from the receipt scans for the tests: a PDF of them (reportlab), an encrypted copy (pikepdf)
and a multi-page TIFF, optionally with one corrupt frame. Every case is a real file."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
from conftest import RECEIPTS
from PIL import Image
from reportlab.pdfgen import canvas

from models.base import EngineRequest
from models.registry import load_engine
from shared.infra.settings import load_settings
from shared.intake.rendering import render_page
from shared.jobs.task_spec import TaskSpec

SCANS = (sorted(RECEIPTS.glob("*.jpg")) * 3)[:3]  # 3 pages: kit scans, or the repo example


def receipts_pdf(*, blank_after: int | None = None, extra_pages: int = 0) -> bytes:
    """Each scan as one page of its own size (1 px = 1 pt); optionally a blank page and more copies."""
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, invariant=1)
    scans = SCANS + SCANS[:1] * extra_pages
    for index, scan in enumerate(scans):
        with Image.open(scan) as im:
            size = im.size
        pdf.setPageSize(size)
        pdf.drawImage(str(scan), 0, 0, *size)
        pdf.showPage()
        if blank_after == index:
            pdf.setPageSize((595, 842))
            pdf.showPage()
    pdf.save()
    return buf.getvalue()


def encrypted(data: bytes, *, user: str) -> bytes:
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user=user, owner="owner-secret"))
    return out.getvalue()


def tiff_of(scans: list[Path], corrupt: tuple[int, ...] = ()) -> bytes:
    """A multi-page TIFF of these scans (one page each); the pixel data of the `corrupt` pages
    (1-based) is overwritten, so those pages fail to decode while the file still counts them."""
    frames = []
    for scan in scans:
        with Image.open(scan) as im:
            frames.append(im.convert("L").reduce(2))
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate", dpi=(150, 150))
    data = bytearray(buf.getvalue())
    for page in corrupt:
        with Image.open(io.BytesIO(bytes(data))) as im:
            im.seek(page - 1)
            offset = im.tag_v2[273][0]  # StripOffsets: the frame's deflate stream, not its IFD
        data[offset : offset + 64] = b"\xff" * 64
    return bytes(data)


def tiff_pages(corrupt_page: int | None = None) -> bytes:
    """The three SCANS as one TIFF, optionally with one corrupt page."""
    return tiff_of(SCANS, corrupt=(corrupt_page,) if corrupt_page is not None else ())


def engine_texts(source: Path | bytes, pages: list[int]) -> list[str]:
    """What `ocrq ocr` reads on each page image: the page rendered as the worker renders it
    (default settings), through the same engine, in this process."""
    st = load_settings(engine="checksum")
    engine = load_engine(st)
    texts = []
    for number in pages:
        page = render_page(source, number, dpi=st.pdf_dpi, max_side=st.max_side, max_pixels=st.max_pixels,
                           time_limit_s=None)
        texts.append(engine.run([EngineRequest(page.image, TaskSpec())])[0].text)
    return texts
