"""Multi-page documents (PDF, multi-page TIFF): what they are, cheaply, for the gateway, and the
errors of documents and their pages.

The gateway calls `inspect_document` (header, page count, encryption; no rendering) and
`shared/intake/page_selection.py` for the `pages` option; workers render one page at a time with
`shared/intake/rendering.py`.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Literal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from shared.errors import TooLarge, Unprocessable, UnsupportedMedia

DocumentKind = Literal["pdf", "tiff"]

CONTENT_TYPES: dict[str, str] = {"pdf": "application/pdf", "tiff": "image/tiff"}

# PDFium's FPDF_GetLastError codes (fpdfview.h).
PDFIUM_ENCRYPTED = frozenset({4, 5})  # FPDF_ERR_PASSWORD, FPDF_ERR_SECURITY


class DocumentError(Unprocessable):
    """A document (or one page of it) that cannot be used; `code` is stable and goes to clients as is."""

    code = "damaged_document"


class NotADocument(DocumentError, UnsupportedMedia):
    """Neither PDF nor TIFF by its bytes."""

    code = "not_a_document"  # neither PDF nor TIFF by its bytes, whatever its name or declared type


class EncryptedPdf(DocumentError):
    """The PDF is password-protected: submit it decrypted."""

    code = "encrypted_pdf"


class DamagedDocument(DocumentError):
    """The PDF or TIFF is truncated or damaged."""

    code = "damaged_document"


class EmptyDocument(DocumentError):
    """The document has no pages."""

    code = "empty_document"


class TooManyPages(DocumentError, TooLarge):
    """The document has more pages than OCRQ_MAX_PAGES (nothing is stored)."""

    code = "too_many_pages"

    def __init__(self, pages: int, limit: int) -> None:
        super().__init__(f"the document has {pages} pages; at most {limit} accepted")
        self.pages = pages
        self.limit = limit


class InvalidPages(DocumentError):
    """`pages` (or `page`) is malformed or out of range."""

    code = "invalid_pages"


# Per-page errors: raised by render_page, recorded on that page (pages[i].error), never fail the whole job.
class PageUnreadable(DocumentError):
    """A page cannot be rendered or read."""

    code = "page_unreadable"


class PageTooLarge(DocumentError):
    """A TIFF frame has more pixels than OCRQ_MAX_PIXELS."""

    code = "too_many_pixels"  # a TIFF frame over the pixel cap (PDF pages are scaled down instead)


class RenderTimeout(DocumentError):
    """A page did not render within its time limit."""

    code = "render_timeout"


@dataclass(frozen=True)
class DocumentInfo:
    kind: DocumentKind
    content_type: str
    pages_total: int
    encrypted: bool = False  # an owner-password-only PDF: readable without a password, so accepted
    repaired: bool = False  # PDFium had to rebuild the cross-reference table (rendering may still work)


def sniff(head: bytes) -> DocumentKind | None:
    """The document kind from the first bytes (1 KiB is enough), or None: the name of a file never counts."""
    # PDF readers (PDFium included) accept the header anywhere in the first 1024 bytes.
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # classic TIFF and BigTIFF
        return "tiff"
    return None


def as_document(data: bytes, *, max_pages: int) -> DocumentInfo | None:
    """What an upload is, decided the one way the gateway, the batch planner and `ocrq ocr` share: a
    document (a PDF, or a TIFF of several pages; checked by inspect_document, nothing rendered), or None
    for an image: no PDF/TIFF bytes, a single-page TIFF, or a TIFF the page counter cannot read (the
    image checks then name what is wrong with it). A bad PDF raises its DocumentError, too many pages
    TooManyPages."""
    kind = sniff(data[:1024])
    if kind is None:
        return None
    try:
        doc = inspect_document(data, max_pages=max_pages)
    except TooManyPages:
        raise
    except DocumentError:
        if kind == "pdf":
            raise
        return None
    return doc if doc.kind == "pdf" or doc.pages_total > 1 else None


def inspect_document(data: bytes, *, max_pages: int) -> DocumentInfo:
    """Check a document cheaply for the gateway: kind, page count, encryption, structural damage.

    Never renders or decodes a page. Raises a DocumentError subclass for anything that will never
    render; problems inside one page (a corrupt image stream, a slow page) surface per page later.
    """
    if not data:
        raise EmptyDocument("the document is empty")
    kind = sniff(data[:1024])
    if kind is None:
        raise NotADocument("not a PDF or TIFF document (by its content)")
    if kind == "pdf":
        pages, encrypted, repaired = _inspect_pdf(data)
    else:
        pages, encrypted, repaired = _count_tiff_frames(data), False, False
    if pages == 0:
        raise EmptyDocument("the document has no pages")
    if pages > max_pages:
        raise TooManyPages(pages, max_pages)
    return DocumentInfo(kind, CONTENT_TYPES[kind], pages, encrypted, repaired)


def _inspect_pdf(data: bytes) -> tuple[int, bool, bool]:
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as err:
        if err.err_code in PDFIUM_ENCRYPTED:
            raise EncryptedPdf("the PDF is encrypted with a password; submit it decrypted") from None
        if _looks_pageless(data):
            raise EmptyDocument("the PDF has no pages") from None
        raise DamagedDocument(f"the PDF cannot be read (truncated or damaged): {err}") from None
    try:
        pages = len(doc)
        size = pdfium_c.FS_SIZEF()
        for index in range(pages):
            # Reads the page dictionary only (no content stream): a missing or broken page object
            # is a damaged document, found here for the price of a lookup per page.
            if not pdfium_c.FPDF_GetPageSizeByIndexF(doc, index, size) or not (size.width > 0 and size.height > 0):
                raise DamagedDocument(f"page {index + 1} of the PDF is damaged (no usable page size)")
        encrypted = pdfium_c.FPDF_GetSecurityHandlerRevision(doc) != -1
        repaired = not pdfium_c.FPDF_DocumentHasValidCrossReferenceTable(doc)
        return pages, encrypted, repaired
    finally:
        doc.close()


def _looks_pageless(data: bytes) -> bool:
    # PDFium refuses a PDF with an empty page tree as a format error; this only picks the better
    # message for a file PDFium already refused (page objects inside object streams are not seen).
    return re.search(rb"/Count\s+0\b", data) is not None and re.search(rb"/Type\s*/Page(?![s\w])", data) is None


def _count_tiff_frames(data: bytes) -> int:
    # n_frames walks the chain of IFDs (a few bytes per page), decoding no pixels.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a damaged IFD warns before it raises; the error says it
            with Image.open(io.BytesIO(data), formats=["TIFF"]) as im:
                return int(getattr(im, "n_frames", 1) or 1)
    except Exception as err:
        raise DamagedDocument(f"the TIFF cannot be read (truncated or damaged): {err}") from None
