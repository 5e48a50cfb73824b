"""Image safety: inspect uploads before accepting them, and decode them for OCR.

Rules (Pillow's security handbook): only allow-listed formats are ever opened (EPS would run
Ghostscript), the pixel count is checked from the header before any decoding, decompression-bomb
warnings are errors, truncated files are errors, frames are capped.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageFile, ImageOps

from shared.errors import InvalidRequest, OcrqError, TooLarge, Unprocessable, UnsupportedMedia

# Truncated images must fail loudly, never decode to a half-grey picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False

CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "HEIF": "image/heic",  # phone photos (HEIC/HEIF), read through pillow-heif
}

try:  # HEIC/HEIF: registered once, opened only when "heif" is in OCRQ_ALLOWED_TYPES
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a core dependency
    pass


class ImageRejected(OcrqError):
    """An input that will never decode. Each kind below is also the domain error that says how the
    gateway answers it (api/problems.py), so nothing here knows about HTTP."""


class EmptyImage(ImageRejected, InvalidRequest):
    """The file (or object) is empty."""

    code = "empty_file"


class TooManyPixels(ImageRejected, TooLarge):
    """The image has more pixels than OCRQ_MAX_PIXELS."""

    code = "too_many_pixels"


class TooManyFrames(ImageRejected, TooLarge):
    """The image has more frames than OCRQ_MAX_FRAMES."""

    code = "too_many_frames"


class NotAnImage(ImageRejected, UnsupportedMedia):
    """Not an image of an allowed type (OCRQ_ALLOWED_TYPES), nor a PDF or TIFF."""

    code = "unsupported_media_type"


class InvalidImage(ImageRejected, Unprocessable):
    """The image header cannot be read."""

    code = "invalid_image"


class CorruptImage(ImageRejected, Unprocessable):
    """The image cannot be decoded: truncated or corrupt."""

    code = "corrupt_image"


class UnreadableShape(ImageRejected, Unprocessable):
    """A side is below OCRQ_MIN_SIDE_PX or the aspect ratio over OCRQ_MAX_ASPECT."""

    code = "unreadable_shape"


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int
    frames: int
    # inspect(..., reduced=True): the decode it did anyway, long side >= REDUCED_SIDE (or the whole image).
    reduced: Image.Image | None = field(default=None, compare=False, repr=False)


def _open(data: bytes, formats: tuple[str, ...], max_pixels: int) -> Image.Image:
    if not data:
        raise EmptyImage("the uploaded file is empty")
    # Pillow's own bomb limit sits at our cap, so both the warning and the error fire on our number.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=list(formats))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooManyPixels(f"the image has more than {max_pixels} pixels") from None
    except Image.UnidentifiedImageError:
        allowed = ", ".join(f.lower() for f in formats)
        raise NotAnImage(f"not a supported image (allowed: {allowed})") from None
    except Exception as err:
        raise InvalidImage(f"the image header cannot be read: {err}") from None


MIN_SIDE = 8  # px: no engine reads a strip thinner than this
MAX_ASPECT = 50.0  # longest / shortest side: past this the engines' resize fails (RapidOCR's ResizeImgError)


def check_shape(width: int, height: int, *, min_side: int = MIN_SIDE, max_aspect: float = MAX_ASPECT) -> None:
    """Refuse at submit an image no engine can ever read, instead of failing it three times later."""
    short, long_ = min(width, height), max(width, height)
    if short < min_side or long_ / max(1, short) > max_aspect:
        raise UnreadableShape(f"the image is {width}x{height} pixels: each side must be at least "
                            f"{min_side} px and the longer at most {max_aspect:g} times the shorter")


REDUCED_SIDE = 256  # what shared/intake/quality.py measures on


def inspect(data: bytes, *, formats: tuple[str, ...], max_pixels: int, max_frames: int,
            min_side: int = MIN_SIDE, max_aspect: float = MAX_ASPECT, reduced: bool = False) -> ImageInfo:
    """Check an upload fully (header, pixel cap, frames, and a complete decode) without keeping pixels.

    With ``reduced``, the decoded pixels are kept in ``ImageInfo.reduced`` (a JPEG decoded at the
    coarsest DCT scale whose long side is still at least REDUCED_SIDE): the rescan verdict needs no
    second decode.
    """
    im = _open(data, formats, max_pixels)
    width, height = im.size
    check_shape(width, height, min_side=min_side, max_aspect=max_aspect)
    if width * height > max_pixels:
        raise TooManyPixels(f"the image has {width}x{height} pixels, over the limit of {max_pixels}")
    frames = int(getattr(im, "n_frames", 1) or 1)
    if frames > max_frames:
        raise TooManyFrames(
            f"the image has {frames} frames/pages; at most {max_frames} accepted (submit pages as separate images)"
        )
    try:
        if im.format == "JPEG":
            # Decoding at 1/8 scale reads every byte of the stream (so truncation is caught) at a
            # fraction of the cost of a full decode: the gateway must stay fast.
            im.draft("L", _draft_size(width, height, reduced))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooManyPixels(f"the image has more than {max_pixels} pixels") from None
    except Exception as err:
        raise CorruptImage(f"the image cannot be decoded (truncated or corrupt): {err}") from None
    fmt = im.format or "?"
    if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF turns it by 90°: report the upright size
        width, height = height, width
    return ImageInfo(
        fmt, CONTENT_TYPES.get(fmt, "application/octet-stream"), width, height, frames, reduced=im if reduced else None
    )


def _draft_size(width: int, height: int, reduced: bool) -> tuple[int, int]:
    """The size asked of JPEG draft mode, which picks the coarsest of 1/1..1/8 at least this large."""
    long_ = max(width, height)
    if not reduced or long_ // 8 >= REDUCED_SIDE:
        return max(1, width // 8), max(1, height // 8)
    f = min(1.0, REDUCED_SIDE / long_)
    return max(1, int(width * f)), max(1, int(height * f))


@dataclass
class Decoded:
    image: Image.Image  # upright RGB, longest side <= max_side
    width: int  # upright original size (boxes are reported in these pixels)
    height: int
    scale: float  # original pixels per decoded pixel


def decode_for_ocr(data: bytes, *, formats: tuple[str, ...], max_pixels: int, max_side: int) -> Decoded:
    im = _open(data, formats, max_pixels)
    header_w, header_h = im.size
    swaps = _swaps_axes(im)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if im.format == "JPEG" and max(im.size) > 2 * max_side:
                im.draft("RGB", (max_side, max_side))  # cheap DCT downscale for huge scans
            im.load()
            upright = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooManyPixels(f"the image has more than {max_pixels} pixels") from None
    except Exception as err:
        raise CorruptImage(f"the image cannot be decoded (truncated or corrupt): {err}") from None
    # Boxes are reported in pixels of the upright original, whatever size we decoded at.
    orig_w, orig_h = (header_h, header_w) if swaps else (header_w, header_h)
    rgb = upright.convert("RGB")
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return Decoded(rgb, orig_w, orig_h, orig_w / rgb.size[0])


def _swaps_axes(im: Image.Image) -> bool:
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:
        return False
    return orientation in (5, 6, 7, 8)
