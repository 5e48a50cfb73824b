"""The rescan verdict: is this photo good enough to read, decided at submit from the gateway's reduced decode.

Pure numpy on a small grey copy (longest side ``WORK_SIDE``), so it adds well under a millisecond to the
decode the gateway already does. Measures are independent of the decode scale and of overall contrast:

- ``sharpness``: the 99th percentile of the gradient of the contrast-stretched copy: a sharp step spans
  one pixel (about 1.0), blur spreads it; darkening is undone by the stretch.
- ``brightness``: median luminance, 0..1; with the paper (p95) for ``too_dark`` and the ink (p0.5) for
  ``overexposed`` (a washed-out photo has no dark pixels left).
- ``glare_fraction``: share of the image in saturated, textureless patches (a reflection), counted only
  where the surrounding page is not saturated itself (white paper scans are mostly 255).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

WORK_SIDE = 256
REASON_ORDER = ("too_dark", "overexposed", "blurred", "glare", "too_small")  # most severe first


@dataclass(frozen=True)
class Thresholds:
    min_side: int = 300  # original pixels on the longest side below which text cannot be read
    min_sharpness: float = 0.65  # p99 of the stretched gradient; sharp scans measure about 1
    dark_paper: float = 0.30  # p95 luminance under this: the page itself is dark
    bright_ink: float = 0.70  # p0.5 luminance over this: no ink left, washed out
    max_glare: float = 0.03


@dataclass(frozen=True)
class Quality:
    verdict: str  # "ok" | "rescan"
    reasons: list[str] = field(default_factory=list)
    sharpness: float = 0.0
    brightness: float = 0.0
    glare_fraction: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"verdict": self.verdict, "reasons": list(self.reasons), "sharpness": round(self.sharpness, 4),
                "brightness": round(self.brightness, 4), "glare_fraction": round(self.glare_fraction, 4)}


def _work_copy(image: Image.Image) -> np.ndarray:
    gray = image.convert("L")
    if max(gray.size) > WORK_SIDE:
        gray = gray.copy()
        gray.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.uint8)


def _percentiles_u8(g: np.ndarray, ps: tuple[float, ...]) -> list[float]:
    """np.percentile(g / 255, ps) (linear interpolation) from a 256-bin histogram: one pass, no sort.

    The submit path pays for this on every quality=check upload; five sorts of the work copy cost more
    than the rest of the verdict together.
    """
    cum = np.cumsum(np.bincount(g.ravel(), minlength=256))
    n = int(cum[-1])
    out = []
    for p in ps:
        pos = p / 100 * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        v_lo, v_hi = np.searchsorted(cum, [lo + 1, hi + 1])  # the k-th smallest value is where cum first passes k
        out.append(float((v_lo + (pos - lo) * (int(v_hi) - int(v_lo))) / 255.0))
    return out


def assess(
    image: Image.Image, thresholds: Thresholds | None = None, *, original_size: tuple[int, int] | None = None
) -> Quality:
    """The verdict for a (reduced) decode of an upload; ``original_size`` is the upload's own size in pixels."""
    t = thresholds or Thresholds()
    g = _work_copy(image)
    a = g.astype(np.float32) / 255.0
    width, height = original_size or image.size
    p05, lo, p50, p95, hi = _percentiles_u8(g, (0.5, 1, 50, 95, 99))
    # Contrast-stretch first so that a dark or flat photo is not also called blurred.
    s = np.clip((a - lo) / max(hi - lo, 0.05), 0.0, 1.0)
    grad = np.abs(np.diff(s, axis=1))[:-1, :] + np.abs(np.diff(s, axis=0))[:, :-1]
    # Strong edges stay steep in a sharp photo (a stretched step spans one pixel); blur spreads every step.
    sharpness = float(np.percentile(grad, 99)) if grad.size else 0.0
    # White paper scans are mostly 255 already: saturation only means glare on a page that is not white.
    glare_fraction = float((a >= 0.98).mean()) if p50 < 0.93 else 0.0

    found = set()
    if max(width, height) < t.min_side:
        found.add("too_small")
    if p95 < t.dark_paper:
        found.add("too_dark")
    if p05 > t.bright_ink:
        found.add("overexposed")
    if sharpness < t.min_sharpness and not found & {"too_dark", "overexposed"}:
        found.add("blurred")
    if glare_fraction > t.max_glare and "overexposed" not in found:
        found.add("glare")
    reasons = [r for r in REASON_ORDER if r in found]
    return Quality("rescan" if reasons else "ok", reasons, sharpness, p50, glare_fraction)
