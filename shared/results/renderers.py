"""A job's result in the formats users take away: plain text, Markdown, hOCR and a searchable PDF
(the renderers that shared/results/formats.py declares as formats).

Every function reads the result document (`pages: [{page, width, height, text, lines, markdown, error}]`,
line boxes in that page's pixels). A result without `pages` (a single image, as stored before
documents) is read as one page made of its top-level fields.
"""

from __future__ import annotations

import io
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import reportlab
from PIL import Image
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from shared.intake.documents import DocumentError
from shared.intake.images import ImageRejected, decode_for_ocr
from shared.intake.rendering import render_page

if TYPE_CHECKING:
    from shared.infra.blobs import BlobStore
    from shared.infra.settings import Settings
    from shared.jobs.model import Job

TEXT_PAGE_BREAK = "\f"  # as pdftotext separates pages
# Markdown pages are separate blocks (a renderer must not glue the last paragraph of one page to the
# first of the next), with the form feed kept so a reader can still split them into pages.
MARKDOWN_PAGE_BREAK = "\n\n\f\n\n"
XHTML_NS = "http://www.w3.org/1999/xhtml"
IMAGE_DPI = 72.0  # image inputs: one pixel is one point, so the PDF page size equals the image size

# Characters XML 1.0 cannot carry at all; an engine may still emit them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# A TrueType font embeds Unicode text (the PDF standard fonts stop at Latin-1). DejaVu covers far
# more scripts when the system has it; Vera ships inside reportlab, so there is always a font.
_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path(reportlab.__file__).parent / "fonts" / "Vera.ttf",
)
_FONT_NAME = "OcrqTextLayer"


def result_pages(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The result's pages; a single-image result without `pages` reads as its one page."""
    pages = result.get("pages")
    if pages:
        return [dict(p) for p in pages]
    image = result.get("image") or {}
    return [
        {
            "page": 1,
            "width": image.get("width") or result.get("width", 0),
            "height": image.get("height") or result.get("height", 0),
            "text": result.get("text") or "",
            "lines": result.get("lines") or [],
            "markdown": result.get("markdown"),
        }
    ]


def join_text(pages: Sequence[Mapping[str, Any]]) -> str:
    """The top-level `text` of a document result: each page's text, form feed between pages."""
    return TEXT_PAGE_BREAK.join(p.get("text") or "" for p in pages)


def join_markdown(pages: Sequence[Mapping[str, Any]]) -> str:
    """The top-level `markdown` of a document result (a page without markdown gives its text)."""
    return MARKDOWN_PAGE_BREAK.join((p.get("markdown") or p.get("text") or "").strip("\n") for p in pages)


def to_text(result: Mapping[str, Any]) -> str:
    return join_text(result_pages(result))


def to_markdown(result: Mapping[str, Any]) -> str:
    return join_markdown(result_pages(result))


# --- hOCR -----------------------------------------------------------------------------------------------


def to_hocr(result: Mapping[str, Any], *, title: str = "ocrq result") -> str:
    """hOCR 1.2 as XHTML: one `ocr_page` per page (bbox in the page's pixels), an `ocr_line` per line
    with its box, and `ocrx_word`s whose boxes split the line by character count (engines report
    lines, not words; tools such as hocr-pdf and ocrmypdf's hocrtransform read words)."""
    ET.register_namespace("", XHTML_NS)
    html = ET.Element(_x("html"), {"xml:lang": "en", "lang": "en"})
    head = ET.SubElement(html, _x("head"))
    ET.SubElement(head, _x("title")).text = _clean(title)
    ET.SubElement(head, _x("meta"), {"http-equiv": "Content-Type", "content": "text/html;charset=utf-8"})
    ET.SubElement(head, _x("meta"), {"name": "ocr-system", "content": "ocrq"})
    ET.SubElement(head, _x("meta"), {"name": "ocr-capabilities", "content": "ocr_page ocr_line ocrx_word"})
    body = ET.SubElement(html, _x("body"))
    for index, page in enumerate(result_pages(result)):
        number = int(page.get("page") or index + 1)
        width, height = int(page.get("width") or 0), int(page.get("height") or 0)
        page_el = ET.SubElement(
            body,
            _x("div"),
            {"class": "ocr_page", "id": f"page_{number}", "title": f"bbox 0 0 {width} {height}; ppageno {number - 1}"},
        )
        for line_no, line in enumerate(page.get("lines") or [], start=1):
            box = _int_box(line.get("box"))
            if box is None:
                continue
            line_id = f"line_{number}_{line_no}"
            line_el = ET.SubElement(
                page_el, _x("span"), {"class": "ocr_line", "id": line_id, "title": _bbox_title(box, line)}
            )
            words = list(_word_boxes(_clean(line.get("text") or ""), box))
            for word_no, (word, word_box) in enumerate(words, start=1):
                word_el = ET.SubElement(
                    line_el,
                    _x("span"),
                    {
                        "class": "ocrx_word",
                        "id": f"word_{number}_{line_no}_{word_no}",
                        "title": _bbox_title(word_box, line),
                    },
                )
                word_el.text = word
        if not page.get("lines"):
            page_el.text = ""  # an empty page stays <div ...></div>, never a self-closed div
    ET.indent(html, space=" ")
    body_xml = ET.tostring(html, encoding="unicode", short_empty_elements=False)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n' + body_xml + "\n"
    )


def _x(tag: str) -> str:
    return f"{{{XHTML_NS}}}{tag}"


def _clean(text: str) -> str:
    return _XML_INVALID.sub(" ", text)


def _int_box(box: Any) -> tuple[int, int, int, int] | None:
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    except (TypeError, ValueError):
        return None
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _bbox_title(box: tuple[int, int, int, int], line: Mapping[str, Any]) -> str:
    title = "bbox {} {} {} {}".format(*box)
    confidence = line.get("confidence")
    if isinstance(confidence, (int, float)):
        title += f"; x_wconf {round(100 * min(max(confidence, 0.0), 1.0))}"
    return title


def _word_boxes(text: str, box: tuple[int, int, int, int]) -> Iterable[tuple[str, tuple[int, int, int, int]]]:
    x0, y0, x1, y1 = box
    n = len(text)
    if n == 0:
        return
    per_char = (x1 - x0) / n
    for match in re.finditer(r"\S+", text):
        left = x0 + round(match.start() * per_char)
        right = x0 + round(match.end() * per_char)
        yield match.group(), (left, y0, max(right, left + 1), y1)


# --- Searchable PDF ---------------------------------------------------------------------------------------


def to_searchable_pdf(
    result: Mapping[str, Any],
    page_images: Iterable[Image.Image | None],
    *,
    image_dpi: float = IMAGE_DPI,
    jpeg_quality: int = 85,
    font_path: str | None = None,
) -> bytes:
    """A PDF with each page's image and an invisible text layer (render mode 3) on the line boxes.

    `page_images` yields one image per result page, in order, and is consumed one at a time (a
    generator that renders or downloads each page keeps one page in memory). A None image (a page
    that failed) gives a white page with no text. Page size: `width_pt`/`height_pt` when the page
    carries them (a PDF input keeps its size in points), else its pixels at `image_dpi`. `font_path`: a
    TrueType font for the text layer (e.g. a CJK font); characters the font lacks are not searchable.
    """
    font = _text_layer_font(font_path)
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pageCompression=1, invariant=1)
    pdf.setCreator("ocrq")
    pages = result_pages(result)
    images = iter(page_images)
    for page in pages:
        image = next(images, None)
        width_px = float(page.get("width") or (image.size[0] if image else 0) or 1)
        height_px = float(page.get("height") or (image.size[1] if image else 0) or 1)
        width_pt = float(page.get("width_pt") or width_px * 72.0 / image_dpi)
        height_pt = float(page.get("height_pt") or height_px * 72.0 / image_dpi)
        pdf.setPageSize((width_pt, height_pt))
        if image is not None:
            pdf.drawImage(_jpeg_reader(image, jpeg_quality), 0, 0, width=width_pt, height=height_pt)
            del image  # the page's pixels go as soon as they are encoded
        _draw_text_layer(pdf, page, font, width_pt / width_px, height_pt / height_px, height_pt)
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def searchable_pdf_from_pdf(source: str | bytes, result: Mapping[str, Any], *, font_path: str | None = None) -> bytes:
    """A PDF input made searchable without rendering it: each result page is the input's own page
    (its vector content and images, untouched, as a form XObject) with the invisible text layer laid
    on it, as ocrmypdf's sandwich does. Selected pages only, in the result's order; a page that
    failed keeps its content with no text. Cheap enough for the gateway: no pixels are made.

    Pages with a /Rotate or a cropped box are laid out as PDFium renders them (the boxes were found
    on that rendering), which an XObject of the unrotated page would not match: :func:`needs_render`
    tells the caller to take the rendering path for those."""
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(source)
    try:
        pages = result_pages(result)
        font = _text_layer_font(font_path)
        layer = io.BytesIO()
        # Each page opens with the canvas's initial font: the layer's own, which PDFium keeps in the
        # page's resources when it rewrites the content (an unused Helvetica it drops, and readers
        # then warn of an unknown font F1).
        pdf = canvas.Canvas(layer, pageCompression=1, invariant=1, initialFontName=font)
        pdf.setCreator("ocrq")
        for page in pages:
            width_pt, height_pt = src[int(page["page"]) - 1].get_size()
            pdf.setPageSize((width_pt, height_pt))
            width_px = float(page.get("width") or width_pt)
            height_px = float(page.get("height") or height_pt)
            if not page.get("error"):
                _draw_text_layer(pdf, page, font, width_pt / width_px, height_pt / height_px, height_pt)
            pdf.showPage()
        pdf.save()
        out = pdfium.PdfDocument(layer.getvalue())
        try:
            for index, page in enumerate(pages):
                content = src.page_as_xobject(int(page["page"]) - 1, out).as_pageobject()
                target = out[index]
                target.insert_obj(content)
                target.gen_content()
            buf = io.BytesIO()
            out.save(buf)
            return buf.getvalue()
        finally:
            out.close()
    finally:
        src.close()


def searchable_pdf(job: Job, result: Mapping[str, Any], *, blobs: BlobStore, settings: Settings) -> bytes:
    """A stored job's searchable PDF: a PDF input's own pages carry the text layer as they are (no
    rendering, :func:`searchable_pdf_from_pdf`) unless a page is rotated or cropped; otherwise each page's
    image is made again from the stored input, one at a time (:func:`page_images`)."""
    if job.input.content_type == "application/pdf":
        data = blobs.get(job.input.key, bucket=job.input.bucket, max_bytes=settings.max_upload_bytes)
        numbers = [int(p["page"]) for p in result_pages(result)]
        if not needs_render(data, numbers):
            return searchable_pdf_from_pdf(data, result)
    return to_searchable_pdf(result, page_images(job, result, blobs=blobs, settings=settings))


def page_images(
    job: Job, result: Mapping[str, Any], *, blobs: BlobStore, settings: Settings
) -> Iterator[Image.Image | None]:
    """One image per result page, in order, read from the stored input (never all in memory): TIFF frames
    and PDF pages decoded or rendered, an image job's image decoded as the worker decoded it. None for a
    page that failed (in the worker, or now): the searchable PDF keeps its place as an empty page."""
    data = blobs.get(job.input.key, bucket=job.input.bucket, max_bytes=settings.max_upload_bytes)
    pages = result_pages(result)
    if job.pages_total is None:  # an image job: the one image, as the worker saw it (upright, bounded)
        try:
            yield decode_for_ocr(data, formats=settings.allowed_formats, max_pixels=settings.max_pixels,
                                 max_side=settings.max_side).image
        except ImageRejected:
            yield None
        return
    with tempfile.NamedTemporaryFile(prefix="ocrq-export-", suffix=".bin") as f:
        f.write(data)
        f.flush()
        del data
        for page in pages:
            if page.get("error"):
                yield None
                continue
            try:
                yield render_page(f.name, int(page["page"]), dpi=settings.pdf_dpi, max_side=settings.max_side,
                                  max_pixels=settings.max_pixels,
                                  time_limit_s=settings.page_render_time_limit_s).image
            except DocumentError:
                yield None


def needs_render(source: str | bytes, page_numbers: Iterable[int]) -> bool:
    """True when a page of the PDF is rotated or cropped (its XObject would not line up with the
    boxes found on its rendering): searchable_pdf_from_pdf is then not used."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(source)
    try:
        for n in page_numbers:
            page = doc[n - 1]
            if page.get_rotation() % 360 or tuple(page.get_cropbox()) != tuple(page.get_mediabox()):
                return True
            if tuple(page.get_mediabox())[:2] != (0.0, 0.0):
                return True
        return False
    finally:
        doc.close()


def _text_layer_font(font_path: str | None) -> str:
    path = Path(font_path) if font_path else next(p for p in _FONT_CANDIDATES if p.is_file())
    name = f"{_FONT_NAME}-{path.stem}"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, str(path)))
    return name


def _jpeg_reader(image: Image.Image, quality: int) -> Any:
    from reportlab.lib.utils import ImageReader

    buf = io.BytesIO()
    # JPEG passes into the PDF as is (DCTDecode): no second encode, and a tenth of raw RGB.
    image.convert("RGB").save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return ImageReader(buf)


def _draw_text_layer(
    pdf: canvas.Canvas, page: Mapping[str, Any], font: str, kx: float, ky: float, height_pt: float
) -> None:
    for line in page.get("lines") or []:
        text = " ".join((line.get("text") or "").split())
        box = _int_box(line.get("box"))
        if not text or box is None:
            continue
        x0, y0, x1, y1 = box[0] * kx, box[1] * ky, box[2] * kx, box[3] * ky
        box_w, box_h = max(x1 - x0, 0.5), max(y1 - y0, 0.5)
        size = box_h * 0.85
        natural = pdfmetrics.stringWidth(text, font, size)
        t = pdf.beginText()
        t.setTextRenderMode(3)  # invisible: found and selected by viewers, never drawn over the scan
        t.setFont(font, size)
        if natural > 0:
            # Stretch the text to the box so a selection covers the words where they are on the scan.
            t.setHorizScale(100.0 * box_w / natural)
        # PDF y grows upwards; the baseline sits above the box bottom by the font's descent.
        t.setTextOrigin(x0, height_pt - y1 + box_h * 0.15)
        t.textOut(text)
        pdf.drawText(t)
