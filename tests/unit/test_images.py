import io

import imaging
import pytest
from PIL import Image

from api.problems import status_of
from shared.intake.images import ImageRejected, decode_for_ocr, inspect

FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF")


def check(data, **kw):
    return inspect(
        data, formats=FORMATS, max_pixels=kw.get("max_pixels", 40_000_000), max_frames=kw.get("max_frames", 1)
    )


def test_plain_jpeg_is_accepted():
    info = check(imaging.jpeg(640, 480))
    assert (info.format, info.width, info.height, info.content_type) == ("JPEG", 640, 480, "image/jpeg")


@pytest.mark.parametrize(
    "data,code,status",
    [
        (b"", "empty_file", 400),
        (imaging.FAKE_PDF, "unsupported_media_type", 415),
        (b"just some text, renamed to .jpg", "unsupported_media_type", 415),
        (imaging.png_bomb(), "too_many_pixels", 413),
        (imaging.truncated_jpeg(), "corrupt_image", 422),
        (imaging.multipage_tiff(3), "too_many_frames", 413),
    ],
)
def test_bad_inputs_are_refused_with_their_status(data, code, status):
    with pytest.raises(ImageRejected) as err:
        check(data)
    assert (err.value.code, status_of(type(err.value))) == (code, status)  # the gateway's answer


def test_eps_polyglot_is_never_opened():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ImageRejected) as err:
        check(eps)
    assert status_of(type(err.value)) == 415


def test_pixel_cap_is_ours_not_pillows():
    with pytest.raises(ImageRejected) as err:
        check(imaging.jpeg(400, 300), max_pixels=100_000)
    assert status_of(type(err.value)) == 413


def test_exif_rotation_is_applied_and_size_bounded():
    d = decode_for_ocr(
        imaging.jpeg(3000, 1000, exif_orientation=6), formats=FORMATS, max_pixels=40_000_000, max_side=1024
    )
    # orientation 6 = rotate 90°: the upright picture is tall
    assert (d.width, d.height) == (1000, 3000)
    assert max(d.image.size) == 1024 and d.image.size[1] > d.image.size[0]
    assert d.scale == pytest.approx(3000 / 1024, rel=0.01)


def test_decoded_image_is_rgb():
    buf = io.BytesIO()
    Image.new("L", (50, 50), 128).save(buf, "PNG")
    assert decode_for_ocr(buf.getvalue(), formats=FORMATS, max_pixels=10**7, max_side=2048).image.mode == "RGB"
