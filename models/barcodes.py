"""Barcode decoding with zxing-cpp: every 1D and 2D symbol in an image, with GS1 data read by shared.labels.gs1.

``decode_barcodes(image)`` returns plain JSON-ready dicts in the given image's pixels::

    {"format": "Code128", "symbology": "]C1", "text": "(00)...", "encoding": "text" | "base64",
     "box": [x0, y0, x1, y1], "polygon": [[x, y] x 4], "orientation": 0, "gs1": {...} | None}

No OCR engine is involved, so this runs on any worker in milliseconds.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import zxingcpp
from PIL import Image, ImageOps

from shared.labels import gs1

DECODER_NAME = "zxing-cpp"
try:
    DECODER_VERSION = version("zxing-cpp")
except PackageNotFoundError:  # an unusual install (built from source): the result still names the decoder
    DECODER_VERSION = "unknown"

# Large photos are decoded from a bounded copy: zxing's cost grows with pixels while a label's modules
# stay several pixels wide at this size for the symbols a hand scanner photographs.
DEFAULT_MAX_SIDE = 2048

_GTIN_FORMATS = {"EAN13", "EAN8", "UPCA", "UPCE"}


Point = tuple[float, float]
Mapper = Callable[[float, float], Point]

# Angles tried when nothing is found upright: zxing's 1D readers scan rows (and columns, with try_rotate),
# so a linear symbol skewed by more than about 10 degrees is missed without deskewing.
SWEEP_ANGLES = (15.0, -15.0, 30.0, -30.0, 45.0, -45.0)


def decode_barcodes(
    image: Image.Image, *, max_side: int = DEFAULT_MAX_SIDE, thorough: bool = True
) -> list[dict[str, Any]]:
    """Every symbol found in ``image`` (an empty list when there is none; never raises for a readable image).

    ``thorough=False`` stops after the first pass: the contrast, upscale and deskew passes cost an
    image with no symbol about ten reads (over a second at 2048 px on one core), which an OCR job
    that merely looks for a label on the side (barcodes=auto) must not pay; the barcodes task and
    barcodes=on are thorough."""
    gray = image.convert("L")
    width, height = gray.size
    scale = 1.0
    if max(width, height) > max_side:
        scale = max(width, height) / max_side
        gray = gray.resize((max(1, round(width / scale)), max(1, round(height / scale))), Image.Resampling.BOX)
    to_gray: Mapper = _identity
    found = _read(gray)
    if not found and thorough:
        found, to_gray = _second_pass(gray)
    out = []
    for bc in found:
        out.append(_to_dict(bc, lambda x, y: _scaled(to_gray(x, y), scale), width, height))
    return out


def _identity(x: float, y: float) -> Point:
    return x, y


def _scaled(p: Point, scale: float) -> Point:
    return p[0] * scale, p[1] * scale


def _read(gray: Image.Image, binarizer: Any = None) -> list[Any]:
    kwargs: dict[str, Any] = {"text_mode": zxingcpp.TextMode.HRI}
    if binarizer is not None:
        kwargs["binarizer"] = binarizer
    return list(zxingcpp.read_barcodes(gray, **kwargs))


def _second_pass(gray: Image.Image) -> tuple[list[Any], Mapper]:
    """Only when the first pass found nothing: contrast-stretched, upscaled when small, then deskewed.

    Returns the symbols and the map from the pixels they were found in back to ``gray``'s pixels.
    """
    stretched = ImageOps.autocontrast(gray, cutoff=1)
    found = _read(stretched, zxingcpp.Binarizer.GlobalHistogram)
    if found:
        return found, _identity
    if max(gray.size) <= 1024:
        big = stretched.resize((gray.width * 2, gray.height * 2), Image.Resampling.BICUBIC)
        found = _read(big)
        if found:
            return found, lambda x, y: (x / 2, y / 2)
    for angle in SWEEP_ANGLES:
        rotated = gray.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255)
        found = _read(rotated)
        if found:
            return found, _unrotate(angle, gray.size, rotated.size)
    return [], _identity


def _unrotate(angle: float, size: tuple[int, int], rotated_size: tuple[int, int]) -> Mapper:
    """Map a point of ``img.rotate(angle, expand=True)`` back to ``img`` (PIL turns counter-clockwise)."""
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    cx, cy = size[0] / 2, size[1] / 2
    rcx, rcy = rotated_size[0] / 2, rotated_size[1] / 2

    def back(x: float, y: float) -> Point:
        dx, dy = x - rcx, y - rcy
        return cos * dx - sin * dy + cx, sin * dx + cos * dy + cy

    return back


def _to_dict(bc: Any, to_image: Mapper, width: int, height: int) -> dict[str, Any]:
    pos = bc.position
    corners = (pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left)
    polygon = []
    for p in corners:
        x, y = to_image(p.x, p.y)
        polygon.append([_clamp(x, width), _clamp(y, height)])
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    fmt = bc.format.name
    text, encoding = _text(bc)
    return {
        "format": fmt,
        "symbology": bc.symbology_identifier,
        "text": text,
        "encoding": encoding,
        "box": [min(xs), min(ys), max(xs), max(ys)],
        "polygon": polygon,
        "orientation": int(bc.orientation),
        "gs1": _gs1(bc, fmt, text, encoding),
    }


def _clamp(v: float, limit: int) -> int:
    return min(max(0, round(v)), limit)


def _text(bc: Any) -> tuple[str, str]:
    """The symbol's text, or its bytes as base64 where they are not text (binary payloads are data too)."""
    content = bc.content_type
    if content == zxingcpp.ContentType.Binary:
        return base64.b64encode(bc.bytes).decode("ascii"), "base64"
    if content == zxingcpp.ContentType.Mixed:
        try:
            return bytes(bc.bytes).decode("utf-8"), "text"
        except UnicodeDecodeError:
            return base64.b64encode(bc.bytes).decode("ascii"), "base64"
    return bc.text, "text"


def _gs1(bc: Any, fmt: str, text: str, encoding: str) -> dict[str, Any] | None:
    if bc.content_type == zxingcpp.ContentType.GS1:
        # bytes hold the element string with GS separators; text is the HRI with parentheses.
        return gs1.parse_element_string(bytes(bc.bytes).decode("latin-1"))
    if encoding != "text":
        return None
    if fmt in _GTIN_FORMATS or (fmt in ("ITF", "ITF14") and len(text) == 14 and text.isdigit()):
        return gs1.parse_gtin(text)
    if fmt in ("QRCode", "DataMatrix", "Aztec") and gs1.is_digital_link(text):
        return gs1.parse_digital_link(text)
    return None
