"""Label benchmarks: barcode decode time per image size, and the rescan verdict's cost at the gateway.

    .venv/bin/python bench/labels.py

Hook for the lead: ``EXTRA_ROWS`` takes callables returning (name, value, unit) rows (gateway submit CPU
with quality=check vs without, barcodes-task vs OCR-task images/s) and prints them in the same table.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import make_labels as ml  # noqa: E402

from models.barcodes import decode_barcodes  # noqa: E402
from shared.quality import assess  # noqa: E402

EXTRA_ROWS: list[Callable[[], list[tuple[str, float, str]]]] = []


def _best_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def decode_rows() -> list[tuple[str, float, str]]:
    _, label, _ = next(x for x in ml.labels() if x[0] == "several_per_image")
    rows = []
    for mp in (1, 4, 12):
        scale = (mp * 1e6 / (label.width * label.height)) ** 0.5
        im = label.resize((round(label.width * scale), round(label.height * scale)))
        ms = _best_ms(lambda im=im: decode_barcodes(im), 3)
        rows.append((f"decode_barcodes {mp} MP ({im.width}x{im.height})", ms, "ms"))
    return rows


def quality_rows() -> list[tuple[str, float, str]]:
    rows = []
    for path in ml.receipt_paths()[:12]:
        data = path.read_bytes()
        kb = len(data) / 1024

        def decode(data: bytes = data) -> Image.Image:
            r = Image.open(io.BytesIO(data))
            w, h = r.size
            r.draft("L", (max(1, w * 256 // max(w, h)), max(1, h * 256 // max(w, h))))
            r.load()
            return r

        reduced = decode()
        d = _best_ms(decode, 20)
        a = _best_ms(lambda r=reduced, p=path: assess(r, original_size=Image.open(p).size), 20)
        rows.append((f"{path.name} ({kb:.0f} KB) reduced decode (draft to >=256 px)", d, "ms"))
        rows.append((f"{path.name} assess", a, "ms"))
        rows.append((f"{path.name} assess per 100 KB", a * 100 / kb, "ms"))
    return rows


def main() -> None:
    rows = decode_rows() + quality_rows()
    for extra in EXTRA_ROWS:
        rows += extra()
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}s}  {'value':>9s}  unit")
    for name, value, unit in rows:
        print(f"{name:{width}s}  {value:9.3f}  {unit}")


if __name__ == "__main__":
    main()
