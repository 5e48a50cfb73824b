"""One page of a document rendered for an engine, in a helper process by default.

Rendering runs in a helper process (`PageRenderer`) because PDFium cannot be interrupted: a page
that takes longer than its time limit is ended by killing that process, which also contains PDFium
crashes and bounds its memory (RLIMIT_AS), so one hostile page never takes the worker (or its GPU
model) down with it. Besides the time limit, the render scale is chosen before rendering from the
page size, so a 200 x 200 inch page is rendered at the pixel bound, never at 200 dpi.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import math
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pypdfium2 as pdfium
from PIL import Image, ImageOps

from shared.intake.documents import (
    PDFIUM_ENCRYPTED,
    DamagedDocument,
    DocumentError,
    DocumentKind,
    EmptyDocument,
    EncryptedPdf,
    InvalidPages,
    NotADocument,
    PageTooLarge,
    PageUnreadable,
    RenderTimeout,
    sniff,
)
from shared.intake.images import Decoded  # importing shared.intake.images also makes truncated images errors

Source = str | os.PathLike[str] | bytes


@dataclass
class RenderedPage(Decoded):
    """One page ready for an engine: the `Decoded` contract of images (upright RGB, bounded side;
    `width`/`height` are the page in pixels at the requested dpi, boxes are reported in those), plus
    the page size in PDF points so that a searchable PDF can reproduce the input page size."""

    width_pt: float = 0.0
    height_pt: float = 0.0


def render_page(
    source: Source,
    page_number: int,
    *,
    dpi: int = 200,
    max_side: int = 2048,
    max_pixels: int = 40_000_000,
    time_limit_s: float | None = 60.0,
) -> RenderedPage:
    """Render one page (1-based) of a PDF or TIFF, given as a path (preferred: read lazily) or bytes.

    With a time limit the page renders in this process's helper renderer (see PageRenderer);
    `time_limit_s=None` renders in this process, unbounded in time. Raises a DocumentError
    (RenderTimeout, PageUnreadable, PageTooLarge, InvalidPages) that concerns this page alone.
    """
    if time_limit_s is None:
        return _render_local(source, page_number, dpi, max_side, max_pixels)
    return default_renderer().render(
        source, page_number, dpi=dpi, max_side=max_side, max_pixels=max_pixels, time_limit_s=time_limit_s
    )


def pdf_render_scale(width_pt: float, height_pt: float, *, dpi: int, max_side: int, max_pixels: int) -> float:
    """Pixels per point for a page: the dpi, lowered before rendering so the bitmap stays within bounds."""
    scale = dpi / 72.0
    scale = min(scale, max_side / max(width_pt, height_pt))
    return min(scale, math.sqrt(max_pixels / (width_pt * height_pt)))


class _OpenDocument:
    """The last document this process rendered from, kept open: re-parsing a 500-page PDF's
    cross-reference table for every page costs time, and keeping it costs no memory per page
    (each page is closed after rendering; measured in bench/documents.py)."""

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None
        self.kind: DocumentKind | None = None
        self.pdf: pdfium.PdfDocument | None = None
        self.tiff: Image.Image | None = None
        self._file: IO[bytes] | None = None

    def open(self, source: Source) -> None:
        key = _source_key(source)
        if key == self.key:
            return
        self.close()
        if isinstance(source, bytes):
            kind = sniff(source[:1024])
        else:
            with open(source, "rb") as f:
                kind = sniff(f.read(1024))
        if kind is None:
            raise NotADocument("not a PDF or TIFF document (by its content)")
        try:
            if kind == "pdf":
                self.pdf = pdfium.PdfDocument(source if isinstance(source, bytes) else os.fspath(source))
            else:
                # Kept open (closed in close()): Pillow reads each frame from it on seek.
                self._file = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
                self.tiff = Image.open(self._file, formats=["TIFF"])
        except pdfium.PdfiumError as err:
            if err.err_code in PDFIUM_ENCRYPTED:
                raise EncryptedPdf("the PDF is encrypted with a password") from None
            raise DamagedDocument(f"the PDF cannot be read: {err}") from None
        except Exception as err:
            self.close()
            raise DamagedDocument(f"the TIFF cannot be read: {err}") from None
        self.key, self.kind = key, kind

    def close(self) -> None:
        if self.pdf is not None:
            self.pdf.close()
        if self.tiff is not None:
            self.tiff.close()
        if self._file is not None:
            self._file.close()
        self.key = self.kind = self.pdf = self.tiff = self._file = None


def _source_key(source: Source) -> tuple[Any, ...]:
    if isinstance(source, bytes):
        return ("bytes", len(source), hashlib.blake2b(source, digest_size=16).digest())
    st = os.stat(source)
    return ("path", os.fspath(source), st.st_size, st.st_mtime_ns, st.st_ino)


_local = _OpenDocument()
_local_lock = threading.Lock()


def _render_local(source: Source, page_number: int, dpi: int, max_side: int, max_pixels: int) -> RenderedPage:
    with _local_lock:
        _local.open(source)
        if _local.pdf is not None:
            return _render_pdf_page(_local.pdf, page_number, dpi, max_side, max_pixels)
        assert _local.tiff is not None
        return _render_tiff_page(_local.tiff, page_number, max_side, max_pixels)


def _render_pdf_page(
    doc: pdfium.PdfDocument, page_number: int, dpi: int, max_side: int, max_pixels: int
) -> RenderedPage:
    total = len(doc)
    if not 1 <= page_number <= total:
        raise InvalidPages(f"page {page_number} is out of range; the document has {total} page(s)")
    try:
        page = doc[page_number - 1]
    except pdfium.PdfiumError as err:
        raise PageUnreadable(f"page {page_number} cannot be loaded: {err}") from None
    try:
        width_pt, height_pt = page.get_size()  # already rotated by the page's /Rotate, as rendered
        if not (width_pt > 0 and height_pt > 0):
            raise PageUnreadable(f"page {page_number} has no usable size")
        scale = pdf_render_scale(width_pt, height_pt, dpi=dpi, max_side=max_side, max_pixels=max_pixels)
        try:
            image = page.render(scale=scale, may_draw_forms=False).to_pil().convert("RGB")
        except Exception as err:
            raise PageUnreadable(f"page {page_number} cannot be rendered: {err}") from None
    finally:
        page.close()
    # Boxes are reported in pixels of the page at the requested dpi, like the original pixels of an image.
    width = max(1, round(width_pt * dpi / 72.0))
    height = max(1, round(height_pt * dpi / 72.0))
    return RenderedPage(image, width, height, width / image.size[0], width_pt, height_pt)


def _render_tiff_page(tiff: Image.Image, page_number: int, max_side: int, max_pixels: int) -> RenderedPage:
    total = int(getattr(tiff, "n_frames", 1) or 1)
    if not 1 <= page_number <= total:
        raise InvalidPages(f"page {page_number} is out of range; the document has {total} page(s)")
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        tiff.seek(page_number - 1)
        w, h = tiff.size
        if w * h > max_pixels:
            raise PageTooLarge(f"page {page_number} has {w}x{h} pixels, over the limit of {max_pixels}")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            tiff.load()
            upright = ImageOps.exif_transpose(tiff)  # a copy: the open TIFF can seek on
        xdpi = _tiff_dpi(tiff)
    except DocumentError:
        raise
    except Exception as err:
        raise PageUnreadable(f"page {page_number} cannot be decoded (truncated or corrupt): {err}") from None
    rgb = upright.convert("RGB")
    width, height = rgb.size
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    k = 72.0 / xdpi
    return RenderedPage(rgb, width, height, width / rgb.size[0], width * k, height * k)


def _tiff_dpi(tiff: Image.Image) -> float:
    dpi = tiff.info.get("dpi")
    try:
        value = float(dpi[0]) if dpi else 0.0
    except (TypeError, ValueError, IndexError):
        value = 0.0
    return value if 10.0 <= value <= 10_000.0 else 72.0  # no or absurd resolution tag: 1 pixel = 1 point


# --- The helper renderer process ---------------------------------------------------------------------


class PageRenderer:
    """Renders pages in a child process (a plain `python -c`, not a fork: the worker may hold CUDA
    state and threads) that keeps its last document open. On a time limit or a crash the child is
    killed, the page fails with RenderTimeout/PageUnreadable, and the next call starts a new one
    (about 0.2 s). Thread-safe: one page at a time per renderer."""

    def __init__(self, *, memory_limit_mb: int | None = 4096) -> None:
        self.memory_limit_mb = memory_limit_mb
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def render(
        self,
        source: Source,
        page_number: int,
        *,
        dpi: int = 200,
        max_side: int = 2048,
        max_pixels: int = 40_000_000,
        time_limit_s: float = 60.0,
    ) -> RenderedPage:
        if not isinstance(source, bytes):
            source = os.fspath(Path(source).resolve())
        request = (source, page_number, dpi, max_side, max_pixels)
        with self._lock:
            proc = self._ensure()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, request)
                ready, _, _ = select.select([proc.stdout], [], [], time_limit_s)
                if not ready:
                    self._kill()
                    raise RenderTimeout(f"page {page_number} took longer than {time_limit_s:g} s to render")
                reply = _receive(proc.stdout)
            except (OSError, EOFError, pickle.UnpicklingError, struct.error):
                self._kill()
                raise PageUnreadable(f"page {page_number}: the renderer stopped (crash or memory limit)") from None
        if reply[0] == "error":
            _, code, message = reply
            raise _ERRORS_BY_CODE.get(code, PageUnreadable)(message)
        _, mode, size, pixels, width, height, scale, width_pt, height_pt = reply
        image = Image.frombytes(mode, size, pixels)
        return RenderedPage(image, width, height, scale, width_pt, height_pt)

    def close(self) -> None:
        with self._lock:
            self._kill()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        root = str(Path(__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        limit = str(self.memory_limit_mb or 0)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "import sys, shared.intake.rendering as d; d._serve(int(sys.argv[1]))", limit],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        return self._proc

    def _kill(self) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


_ERRORS_BY_CODE: dict[str, type[DocumentError]] = {
    cls.code: cls
    for cls in (NotADocument, EncryptedPdf, DamagedDocument, EmptyDocument, InvalidPages, PageUnreadable, PageTooLarge)
}

_default: PageRenderer | None = None
_default_lock = threading.Lock()


def default_renderer() -> PageRenderer:
    """This process's renderer, started on first use and stopped at exit."""
    global _default
    with _default_lock:
        if _default is None:
            _default = PageRenderer()
            atexit.register(_default.close)
        return _default


def _send(pipe: IO[bytes], obj: object) -> None:
    payload = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(struct.pack("!Q", len(payload)))
    pipe.write(payload)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> Any:
    header = _read_exactly(pipe, 8)
    (length,) = struct.unpack("!Q", header)
    # Only our own child writes here (a trusted pipe), so unpickling is safe.
    return pickle.loads(_read_exactly(pipe, length))


def _read_exactly(pipe: IO[bytes], n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = pipe.read(left)
        if not chunk:
            raise EOFError("renderer pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _serve(memory_limit_mb: int) -> None:
    """The child's loop: one request in, one page (raw pixels) or one error out, until stdin closes."""
    if memory_limit_mb > 0:
        import resource

        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must never corrupt the reply stream
    while True:
        try:
            source, page_number, dpi, max_side, max_pixels = _receive(stdin)
        except EOFError:
            return
        try:
            page = _render_local(source, page_number, dpi, max_side, max_pixels)
            reply: tuple[Any, ...] = (
                "ok", page.image.mode, page.image.size, page.image.tobytes(),
                page.width, page.height, page.scale, page.width_pt, page.height_pt,
            )  # fmt: skip
        except DocumentError as err:
            reply = ("error", err.code, err.message)
        except MemoryError:
            _local.close()
            reply = ("error", PageUnreadable.code, f"page {page_number} needs more memory than the renderer may use")
        except Exception as err:  # PDFium or Pillow failing on one page must not end the renderer
            reply = ("error", PageUnreadable.code, f"page {page_number} cannot be rendered: {err}")
        _send(stdout, reply)
