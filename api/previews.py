"""Page previews: one page of a stored document, rendered small, for `GET /v1/jobs/{id}/image?page=N`.

The console shows each page of a PDF or multi-page TIFF under its line boxes; a browser cannot show
a PDF page as an image, so the gateway renders the one page asked for. The work is bounded on every
side: a preview resolution (PREVIEW_DPI, then at most PREVIEW_MAX_SIDE pixels a side), the renderer's
time limit and memory limit (shared/documents.PageRenderer: a helper process, killed past its
limit), and one render at a time per gateway process; a request that cannot get that slot within
PREVIEW_WAIT_S is answered 503 with Retry-After instead of holding a gateway thread.

Boxes stay in the page's pixels at the worker's dpi (the result's `pages[i].width/height`); a
preview has the same aspect ratio, so a client scales the boxes to whatever size it shows.
"""

from __future__ import annotations

import io
import threading

from shared.errors import Unavailable
from shared.intake.rendering import PageRenderer

PREVIEW_DPI = 100  # enough to read a receipt on a screen; a fifth of the pixels of 200 dpi
PREVIEW_MAX_SIDE = 1600  # so a PDF page's bitmap is at most 1600 x 1600 pixels, whatever its size in inches
PREVIEW_TIME_LIMIT_S = 10.0
PREVIEW_MEMORY_MB = 1536
PREVIEW_WAIT_S = 3.0
JPEG_QUALITY = 82
MEDIA_TYPE = "image/jpeg"

_slot = threading.BoundedSemaphore(1)
_renderer: PageRenderer | None = None
_renderer_lock = threading.Lock()


class PreviewBusy(Unavailable):
    """Another page preview is being rendered (Retry-After)."""

    code = "preview_busy"
    retry_after_s = 1


def _get_renderer() -> PageRenderer:
    global _renderer
    with _renderer_lock:
        if _renderer is None:
            import atexit

            _renderer = PageRenderer(memory_limit_mb=PREVIEW_MEMORY_MB)
            atexit.register(_renderer.close)
        return _renderer


def render_preview(data: bytes, page: int, *, max_pixels: int) -> bytes:
    """Page `page` (1-based) of a PDF/TIFF as a JPEG of at most PREVIEW_MAX_SIDE pixels a side.

    `max_pixels` is the service's decode bound (OCRQ_MAX_PIXELS): a TIFF frame over it is refused
    as the worker refuses it; a PDF page never gets near it (PREVIEW_MAX_SIDE comes first).

    Raises the renderer's DocumentError (InvalidPages, PageUnreadable, RenderTimeout: 422) or
    PreviewBusy (503) when another preview holds the renderer for longer than PREVIEW_WAIT_S.
    """
    if not _slot.acquire(timeout=PREVIEW_WAIT_S):
        raise PreviewBusy("another page preview is being rendered; retry in a moment")
    try:
        rendered = _get_renderer().render(
            data,
            page,
            dpi=PREVIEW_DPI,
            max_side=PREVIEW_MAX_SIDE,
            max_pixels=max_pixels,
            time_limit_s=PREVIEW_TIME_LIMIT_S,
        )
    finally:
        _slot.release()
    image = rendered.image
    if image.mode != "RGB":
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()
