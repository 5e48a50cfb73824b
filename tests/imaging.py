"""Test images drawn with Pillow: labels with known text, bombs, truncated and rotated files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for path in FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def label(text: str, *, size: int = 48, fmt: str = "PNG") -> bytes:
    f = font(size)
    w = int(f.getlength(text)) + 80
    im = Image.new("RGB", (w, size * 3), "white")
    ImageDraw.Draw(im).text((40, size), text, fill="black", font=f)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def jpeg(width: int = 400, height: int = 300, *, exif_orientation: int | None = None, quality: int = 90) -> bytes:
    im = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(im).rectangle((10, 10, width // 2, height // 3), fill="black")
    buf = io.BytesIO()
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        im.save(buf, "JPEG", quality=quality, exif=exif)
    else:
        im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png_bomb(width: int = 40000, height: int = 40000) -> bytes:
    """A tiny PNG whose header declares width x height pixels (the IDAT is a stub)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    data = jpeg(800, 600)
    return data[: len(data) // 2]


def multipage_tiff(pages: int = 3) -> bytes:
    frames = [Image.new("L", (64, 64), 255 - i * 40) for i in range(pages)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


FAKE_PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
