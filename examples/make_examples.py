"""Regenerate the drawn examples: `python examples/make_examples.py` (needs Pillow and a DejaVu font).

label.png    a warehouse label with known text (what `--task spotting` boxes)
receipt.pdf  two pages: the receipt scan and the label, for PDF input
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
FONTS = Path("/usr/share/fonts/truetype/dejavu")
LABEL_LINES = (
    ("SKU 48213-B  QTY 12", "DejaVuSans-Bold.ttf", 56),
    ("Aisle 4  Bin 17  Handle with care", "DejaVuSans.ttf", 36),
)


def draw_label() -> Image.Image:
    fonts = [ImageFont.truetype(str(FONTS / name), size) for _, name, size in LABEL_LINES]
    width = max(int(f.getlength(text)) for (text, _, _), f in zip(LABEL_LINES, fonts, strict=True)) + 96
    im = Image.new("RGB", (width, 220), "white")
    draw = ImageDraw.Draw(im)
    draw.rectangle((8, 8, width - 9, 211), outline="black", width=4)
    y = 40
    for (text, _, size), f in zip(LABEL_LINES, fonts, strict=True):
        draw.text((48, y), text, fill="black", font=f)
        y += size + 40
    return im


def main() -> None:
    label = draw_label()
    label.save(HERE / "label.png", optimize=True)
    receipt = Image.open(HERE / "receipt.jpg").convert("RGB")
    receipt.save(HERE / "receipt.pdf", "PDF", resolution=150.0, save_all=True, append_images=[label])
    for name in ("label.png", "receipt.pdf"):
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
