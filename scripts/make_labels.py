"""Generate the warehouse label test set: barcodes with printed human-readable text, planted faults,
photograph-like variants, and degraded receipt scans with the rescan reason each should get.

Importable (tests and bench/labels.py use the generators) and runnable:

    .venv/bin/python scripts/make_labels.py OUT_DIR     # writes PNG/JPEG files and expected.json

Every label's ``expected`` is ``{"symbols": [{"format", "text", "fields"}], "reasons": [...]}``: the
symbols a decoder must find (GS1 fields where the symbol carries GS1 data) and the review reasons the
label must raise (empty for a clean label).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zxingcpp
from biip.checksums import gs1_standard_check_digit
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
RECEIPTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "receipts"

F = zxingcpp.BarcodeFormat


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_PATHS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def with_check_digit(payload: str) -> str:
    return payload + str(gs1_standard_check_digit(payload))


def wrong_check_digit(payload: str) -> str:
    return payload + str((gs1_standard_check_digit(payload) + 3) % 10)


SSCC = with_check_digit("09506000" + "000000123")  # extension 0, company prefix 9506000, serial reference
GTIN = with_check_digit("0950600013435")  # GTIN-14 with indicator 0
GTIN13 = with_check_digit("400638133393")
GTIN_CASE = with_check_digit("1540014128876")  # ITF-14 on a case


def symbol(fmt: Any, content: str | bytes, *, gs1: bool = False, scale: int = 3) -> Image.Image:
    bc = zxingcpp.create_barcode(content, fmt, gs1=True) if gs1 else zxingcpp.create_barcode(content, fmt)
    return Image.fromarray(np.array(zxingcpp.write_barcode_to_image(bc, scale=scale))).convert("L")


def spaced_sscc(sscc: str) -> str:
    """The usual print layout: (00) extension company-prefix serial check."""
    return f"(00) {sscc[0]} {sscc[1:8]} {sscc[8:17]} {sscc[17]}"


class Label:
    """A white label with symbols and text lines placed top to bottom."""

    def __init__(self, width: int = 1100) -> None:
        self.width = width
        self.parts: list[tuple[str, Any, int]] = []  # (kind, payload, indent)

    def add_symbol(self, im: Image.Image, indent: int = 60) -> Label:
        self.parts.append(("symbol", im, indent))
        return self

    def add_text(self, text: str, size: int = 30, indent: int = 60) -> Label:
        self.parts.append(("text", (text, size), indent))
        return self

    def add_row(self, ims: list[Image.Image]) -> Label:
        self.parts.append(("row", ims, 60))
        return self

    def render(self) -> Image.Image:
        heights = []
        for kind, payload, _ in self.parts:
            if kind == "symbol":
                heights.append(payload.height + 20)
            elif kind == "row":
                heights.append(max(im.height for im in payload) + 30)
            else:
                heights.append(int(payload[1] * 1.6))
        im = Image.new("L", (self.width, sum(heights) + 100), 255)
        draw = ImageDraw.Draw(im)
        y = 50
        for (kind, payload, indent), h in zip(self.parts, heights, strict=True):
            if kind == "symbol":
                im.paste(payload, (indent, y))
            elif kind == "row":
                x = indent
                for sym in payload:
                    im.paste(sym, (x, y))
                    x += sym.width + 120
            else:
                text, size = payload
                draw.text((indent, y), text, fill=0, font=font(size))
            y += h
        return im.convert("RGB")


def _sym(fmt: str, text: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"format": fmt, "text": text, "fields": fields}


def labels() -> Iterator[tuple[str, Image.Image, dict[str, Any]]]:
    """Clean labels, then the planted faults (their ``reasons`` are not empty)."""
    sscc_hri = f"(00){SSCC}"
    yield "gs1_128_sscc", (
        Label().add_text("PALLET LABEL  FROM: ACME DC 4", 34)
        .add_symbol(symbol(F.Code128, sscc_hri, gs1=True, scale=4))
        .add_text(spaced_sscc(SSCC), 34)
        .render()
    ), {"symbols": [_sym("Code128", sscc_hri, {"sscc": SSCC})], "reasons": []}

    hri = f"(01){GTIN}(17)261231(10)LOT42A"
    yield "gs1_128_gtin_lot_expiry", (
        Label().add_text("CONTENT  BEST BEFORE 31.12.2026", 32)
        .add_symbol(symbol(F.Code128, hri, gs1=True, scale=3))
        .add_text(f"(01) {GTIN} (17) 261231 (10) LOT42A", 30)
        .render()
    ), {"symbols": [_sym("Code128", hri, {"gtin": GTIN, "expiry_date": "2026-12-31", "batch_lot": "LOT42A"})],
        "reasons": []}

    hri = f"(01){GTIN}(3103)001250(37)16(10)B77"
    yield "gs1_128_weight_count", (
        Label().add_symbol(symbol(F.Code128, hri, gs1=True, scale=3))
        .add_text(f"(01) {GTIN} (3103) 001250 (37) 16 (10) B77", 28)
        .render()
    ), {"symbols": [_sym("Code128", hri, {"gtin": GTIN, "net_weight_kg": "1.250", "count": 16, "batch_lot": "B77"})],
        "reasons": []}

    hri = f"(01){GTIN}(17)270630(10)LOT9(21)SN000123"
    yield "gs1_datamatrix", (
        Label(800).add_text("GS1 DATAMATRIX", 30)
        .add_symbol(symbol(F.DataMatrix, hri, gs1=True, scale=10))
        .add_text(f"(01) {GTIN}  (17) 270630", 28).add_text("(10) LOT9  (21) SN000123", 28)
        .render()
    ), {"symbols": [_sym("DataMatrix", hri, {"gtin": GTIN, "expiry_date": "2027-06-30", "batch_lot": "LOT9",
                                              "serial": "SN000123"})], "reasons": []}

    uri = f"https://id.gs1.org/01/{GTIN}/10/LOT42A/21/SN77?17=271130"
    yield "qr_digital_link", (
        Label(900).add_text("SCAN FOR PRODUCT INFO", 30)
        .add_symbol(symbol(F.QRCode, uri, scale=8))
        .render()
    ), {"symbols": [_sym("QRCode", uri, {"gtin": GTIN, "batch_lot": "LOT42A", "serial": "SN77",
                                          "expiry_date": "2027-11-30"})], "reasons": []}

    yield "ean13", (
        Label(700).add_symbol(symbol(F.EAN13, GTIN13, scale=4)).add_text(GTIN13, 32, indent=140).render()
    ), {"symbols": [_sym("EAN13", GTIN13, {"gtin": "0" + GTIN13})], "reasons": []}

    yield "itf14", (
        Label(900).add_symbol(symbol(F.ITF, GTIN_CASE, scale=4)).add_text(GTIN_CASE, 32, indent=160).render()
    ), {"symbols": [_sym("ITF", GTIN_CASE, {"gtin": GTIN_CASE})], "reasons": []}

    yield "code39", (
        Label(900).add_text("LOCATION", 30).add_symbol(symbol(F.Code39, "WH-A12-03", scale=3))
        .add_text("WH-A12-03", 32, indent=200).render()
    ), {"symbols": [_sym("Code39", "WH-A12-03")], "reasons": []}

    pdf_text = "SHIP TO DOCK 4 PO 778812 CARRIER DHL"
    yield "pdf417", (
        Label(1100).add_text("SHIPPING DOCUMENT", 30).add_symbol(symbol(F.PDF417, pdf_text, scale=3)).render()
    ), {"symbols": [_sym("PDF417", pdf_text)], "reasons": []}

    yield "aztec", (
        Label(700).add_text("PICK TICKET", 30).add_symbol(symbol(F.Aztec, "PICK 00042 BIN C-07", scale=10)).render()
    ), {"symbols": [_sym("Aztec", "PICK 00042 BIN C-07")], "reasons": []}

    dm_hri = f"(01){GTIN}(10)LOT42A"
    yield "several_per_image", (
        Label(1200).add_symbol(symbol(F.Code128, sscc_hri, gs1=True, scale=3)).add_text(spaced_sscc(SSCC), 30)
        .add_text(" ", 20)
        .add_row([symbol(F.DataMatrix, dm_hri, gs1=True, scale=8), symbol(F.QRCode, "WH-ZONE-B", scale=8),
                  symbol(F.EAN13, GTIN13, scale=3)])
        .render()
    ), {"symbols": [_sym("Code128", sscc_hri, {"sscc": SSCC}),
                    _sym("DataMatrix", dm_hri, {"gtin": GTIN, "batch_lot": "LOT42A"}),
                    _sym("QRCode", "WH-ZONE-B"), _sym("EAN13", GTIN13, {"gtin": "0" + GTIN13})],
        "reasons": []}

    yield "binary_qr", (
        Label(700).add_symbol(symbol(F.QRCode, bytes([0xFF, 0x00, 0x81, 0xFE, 0x10, 0x80]), scale=8)).render()
    ), {"symbols": [_sym("QRCode", "/wCB/hCA")], "reasons": [], "encoding": "base64"}

    # Planted faults.
    bad = wrong_check_digit(SSCC[:17])
    yield "fault_check_digit", (
        Label().add_symbol(symbol(F.Code128, f"(00){bad}", gs1=True, scale=4)).add_text(spaced_sscc(bad), 34).render()
    ), {"symbols": [_sym("Code128", f"(00){bad}", {"sscc": bad})], "reasons": ["check_digit"]}

    hri = f"(01){GTIN}(17)260230(10)LOT42A"
    yield "fault_impossible_date", (
        Label().add_symbol(symbol(F.Code128, hri, gs1=True, scale=3))
        .add_text(f"(01) {GTIN} (17) 260230 (10) LOT42A", 30).render()
    ), {"symbols": [_sym("Code128", hri, {"gtin": GTIN, "expiry_date": "260230", "batch_lot": "LOT42A"})],
        "reasons": ["invalid_date"]}

    other = with_check_digit("09506000" + "000000124")
    yield "fault_text_mismatch", (
        Label().add_symbol(symbol(F.Code128, sscc_hri, gs1=True, scale=4)).add_text(spaced_sscc(other), 34).render()
    ), {"symbols": [_sym("Code128", sscc_hri, {"sscc": SSCC})], "reasons": ["text_mismatch"]}


def no_barcode() -> Image.Image:
    return Label(800).add_text("NO BARCODE ON THIS LABEL", 34).add_text("ZONE B  AISLE 12", 34).render()


# Photograph-like distortions. Each keeps the symbols readable for a scanner held by a person.
def _rotate(deg: float) -> Callable[[Image.Image], Image.Image]:
    return lambda im: im.rotate(deg, expand=True, fillcolor=(255, 255, 255), resample=Image.Resampling.BICUBIC)


def _perspective(im: Image.Image) -> Image.Image:
    """A keystone, as a photo taken from below the label: the top edge is farther and looks shorter."""
    w, h = im.size
    d = 0.12
    # PIL's QUAD is the source corner for each output corner, in the order UL, LL, LR, UR.
    quad = (-d * w, -d * h * 0.3, 0, h, w, h * (1 + d * 0.2), w * (1 + d), 0)
    return im.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))


def _blur(im: Image.Image) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(1.5))


def _noise(im: Image.Image) -> Image.Image:
    rng = np.random.default_rng(7)
    a = np.asarray(im, dtype=np.float32)
    return Image.fromarray(np.clip(a + rng.normal(0, 18, a.shape), 0, 255).astype(np.uint8))


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _low_light(im: Image.Image) -> Image.Image:
    a = np.asarray(im, dtype=np.float32) * 0.3 + 8
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def glare(
    im: Image.Image, *, cx: float = 0.8, cy: float = 0.3, radius: float = 0.22, strength: float = 1.0
) -> Image.Image:
    """A soft saturated spot, as a flash or a lamp reflected on glossy film."""
    w, h = im.size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = radius * max(w, h)
    d = np.sqrt((xx - cx * w) ** 2 + (yy - cy * h) ** 2) / r
    spot = np.clip(1.3 - d, 0, 1) * strength
    a = np.asarray(im, dtype=np.float32)
    a = a + (255 * 1.6 * spot)[..., None] if a.ndim == 3 else a + 255 * 1.6 * spot
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


DISTORTIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "rotate_12": _rotate(12),
    "rotate_90": _rotate(90),
    "rotate_200": _rotate(200),
    "perspective": _perspective,
    "blur": _blur,
    "noise": _noise,
    "jpeg_q40": lambda im: jpeg(im, 40),
    "low_light": _low_light,
    "glare": lambda im: glare(im, cx=0.6, cy=0.3, radius=0.1),
}


def variants() -> Iterator[tuple[str, str, Image.Image, dict[str, Any]]]:
    """(label name, distortion, image, expected) for every label and distortion."""
    for name, im, expected in labels():
        for dname, fn in DISTORTIONS.items():
            yield name, dname, fn(im), expected


# Degraded receipts for the rescan verdict: (distortion, expected first reason).
def _receipt_blur(im: Image.Image, sigma: float = 1 / 250) -> Image.Image:
    return im.filter(ImageFilter.GaussianBlur(max(im.size) * sigma))


def _receipt_dark(im: Image.Image, gain: float = 0.22) -> Image.Image:
    return Image.fromarray((np.asarray(im, dtype=np.float32) * gain).astype(np.uint8))


def _receipt_overexposed(im: Image.Image, gain: float = 1.6, offset: float = 150) -> Image.Image:
    a = np.asarray(im, dtype=np.float32)
    return Image.fromarray(np.clip(a * gain + offset, 0, 255).astype(np.uint8))


def _receipt_glare(im: Image.Image) -> Image.Image:
    return glare(im, cx=0.5, cy=0.45, radius=0.25)


def _receipt_small(im: Image.Image, side: int = 240) -> Image.Image:
    scale = side / max(im.size)
    return im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)


RECEIPT_DEGRADATIONS: dict[str, tuple[Callable[[Image.Image], Image.Image], str]] = {
    "blur": (_receipt_blur, "blurred"),
    "dark": (_receipt_dark, "too_dark"),
    "overexposed": (_receipt_overexposed, "overexposed"),
    "glare": (_receipt_glare, "glare"),
    "small": (_receipt_small, "too_small"),
}


def ink_point(im: Image.Image, rng: np.random.Generator) -> tuple[float, float]:
    """A random point of the print, as fractions of the image: one of the pixels well below the page's level."""
    g = np.asarray(im.convert("L"), dtype=np.float32)
    ys, xs = np.nonzero(g < np.percentile(g, 75) - 60)
    if xs.size == 0:
        return float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7))
    i = int(rng.integers(xs.size))
    return float(xs[i] / g.shape[1]), float(ys[i] / g.shape[0])


def random_degradation(
    dname: str, im: Image.Image, rng: np.random.Generator
) -> tuple[Image.Image, dict[str, float]]:
    """One of RECEIPT_DEGRADATIONS with drawn parameters (each still a photo a person should retake).

    The glare spot is centred on a random pixel of the print (a reflection on blank paper hides nothing; it
    may reach past the image's edge), its radius is
    0.12-0.30 of the long side and its strength 0.8-1.0; blur 1/320-1/200 of the long side; darkening to
    15-28%; overexposure gain 1.4-1.8 with offset 130-170; downscaling to 180-290 px.
    """
    if dname == "glare":
        cx, cy = ink_point(im, rng)
        p = {"cx": cx, "cy": cy, "radius": rng.uniform(0.12, 0.30), "strength": rng.uniform(0.8, 1.0)}
        return glare(im, **p), p
    if dname == "blur":
        p = {"sigma": 1 / rng.uniform(200, 320)}
        return _receipt_blur(im, **p), p
    if dname == "dark":
        p = {"gain": rng.uniform(0.15, 0.28)}
        return _receipt_dark(im, **p), p
    if dname == "overexposed":
        p = {"gain": rng.uniform(1.4, 1.8), "offset": rng.uniform(130, 170)}
        return _receipt_overexposed(im, **p), p
    if dname == "small":
        side = int(rng.integers(180, 291))
        return _receipt_small(im, side), {"side": side}
    raise KeyError(dname)


def receipt_paths(folder: Path = RECEIPTS) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9][0-9].jpg")) if folder.is_dir() else []


def degraded_receipts(
    folder: Path = RECEIPTS, seed: int | None = None
) -> Iterator[tuple[str, Image.Image, str | None]]:
    """(name, image, expected first reason) — None for the clean scan itself.

    ``seed=None``: RECEIPT_DEGRADATIONS' fixed parameters; a seed draws each image's parameters
    (random_degradation) and names them: ``003_glare(cx=0.41,cy=0.62,radius=0.18,strength=0.9)``.
    """
    rng = np.random.default_rng(seed) if seed is not None else None
    for path in receipt_paths(folder):
        im = Image.open(path).convert("RGB")
        yield path.stem, im, None
        for dname, (fn, reason) in RECEIPT_DEGRADATIONS.items():
            if rng is None:
                yield f"{path.stem}_{dname}", fn(im), reason
                continue
            out, params = random_degradation(dname, im, rng)
            shown = ",".join(f"{k}={v:.3g}" for k, v in params.items())
            yield f"{path.stem}_{dname}({shown})", out, reason


def on_white_background(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A receipt scanned on a flatbed: the scan is larger than the paper, the lid around it flat white."""
    w, h = int(im.width * rng.uniform(1.2, 2.5)), int(im.height * rng.uniform(1.05, 1.6))
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    canvas.paste(im, (int(rng.integers(0, w - im.width + 1)), int(rng.integers(0, h - im.height + 1))))
    return canvas


def lid_receipts(folder: Path = RECEIPTS, seed: int = 5, per_scan: int = 2) -> Iterator[tuple[str, Image.Image]]:
    """Clean receipts on a white scanner lid (``on_white_background``): the verdict must stay ``ok``."""
    rng = np.random.default_rng(seed)
    for path in receipt_paths(folder):
        im = Image.open(path).convert("RGB")
        for i in range(per_scan):
            yield f"{path.stem}_lid{i}", on_white_background(im, rng)


def main(argv: list[str]) -> int:
    args = argv[1:]
    seed = None
    if len(args) == 3 and args[1] == "--seed" and args[2].isdigit():
        seed, args = int(args[2]), args[:1]
    if len(args) != 1:
        print("usage: make_labels.py OUT_DIR [--seed N]   (N: draw the receipt degradations' parameters)",
              file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {}
    for name, im, expected in labels():
        im.save(out / f"{name}.png")
        manifest[name] = expected
    for name, dname, im, _ in variants():
        im.save(out / f"{name}__{dname}.jpg", quality=90)
    for drawn, im, reason in degraded_receipts(seed=seed):
        name = drawn.split("(")[0]  # the drawn parameters go to the manifest, not the file name
        im.save(out / f"receipt_{name}.jpg", quality=92)
        manifest[f"receipt_{name}"] = {"first_reason": reason, "degradation": drawn}
    for name, im in lid_receipts():
        im.save(out / f"receipt_{name}.jpg", quality=92)
        manifest[f"receipt_{name}"] = {"first_reason": None}
    (out / "expected.json").write_text(json.dumps(manifest, indent=1))
    print(f"wrote {len(list(out.iterdir()))} files to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
