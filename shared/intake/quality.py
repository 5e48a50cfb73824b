"""The rescan verdict: is this photo good enough to read, decided at submit from the gateway's reduced decode.

Measured on a small grey copy (longest side ``WORK_SIDE``) with uint8 numpy passes, PIL histograms and small
arrays of 4 x 4 tiles (no sort, no float copy of the image), so it adds a fraction of a millisecond to the
decode the gateway already does. Measures are independent of the decode scale and of overall contrast:

- ``sharpness``: the 99th percentile of |dx| + |dy| over the contrast-stretched copy, 0..1: a sharp step
  spans one pixel (1.0), blur spreads it; darkening is undone by the stretch.
- ``brightness``: median luminance, 0..1; with the paper (p95) for ``too_dark`` and the ink (p0.5) for
  ``overexposed`` (a washed-out photo has no dark pixels left, and none in its print either: on a sparse
  page, a small receipt on a white scan, 0.5% of the image is most of the print, so the darkest 1% of the
  inked tiles must be light too, or a glare spot over part of the print would read as overexposure).
- ``glare_fraction``: share of the image in clipped patches on the paper, each holding a square of
  ``2 * GLARE_CORE + 1`` tiles (36 px of the 256 px copy: a reflection saturates a compact region and
  erases the print in it; a patch cut by the image's edge counts), judged against the image's own page
  rather than an absolute level:

  * a page that is not white (a photo: paper well below 255): a saturated patch is a reflection;
  * a white scan with paper grain (blank paper a mix of 250-254 and 255 wherever it is, as most scans at
    JPEG quality 85 or more): a patch of exactly 255 has lost the grain, so it is clipped, not paper;
  * a white page without grain (a digitally whitened scan, or JPEG compression that smoothed the grain
    away) has nothing that tells glare from blank paper but the print around it: only a patch with print
    on both sides (above and below, or left and right) counts, holding a square two tiles wider, so a glare
    over the edge of the print on such a page goes unseen.

  Only patches within the rows and columns that hold the paper count: the flat white around a small
  receipt (a scanner's lid, a frame) is not a reflection.

Glare is not reported on an image that is overexposed, blurred or too small: clipping is everywhere in
the first, and the grain is gone in the others.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np
from PIL import Image

WORK_SIDE = 256
REASON_ORDER = ("too_dark", "overexposed", "blurred", "glare", "too_small")  # most severe first

BLOCK = 4  # glare is judged on 4 x 4 tiles of the work copy (their darkest and brightest pixels)
GLARE_CORE = 4  # a glare patch holds a (2 * GLARE_CORE + 1)-tile square
_INK = 215  # a tile whose darkest pixel is under this holds print
_BLANK = 240  # a tile whose darkest pixel is at least this is blank paper (or clipped)
_PAGE_CONTRAST = 12  # a tile whose brightest and darkest pixels are this close shows the page, not print
_PHOTO_PAGE = 245  # a page whose tiles top out under this is not white (a photo)
_SATURATED = 248  # a photo's tile at least this bright throughout is clipped
_GRAIN = 0.3  # a white page has grain when this share of its blank tiles is not exactly 255
_MIN_BLANK = 0.03  # ... judged only on at least this share of the image's tiles
_LIGHT_PRINT = 0.48  # overexposed: even the darkest 1% of the inked tiles is lighter than this


@dataclass(frozen=True)
class Thresholds:
    min_side: int = 300  # original pixels on the longest side below which text cannot be read
    min_sharpness: float = 0.65  # p99 of the stretched gradient; sharp scans measure 1
    dark_paper: float = 0.30  # p95 luminance under this: the page itself is dark
    bright_ink: float = 0.66  # p0.5 luminance over this: no ink left, washed out
    max_glare: float = 0.03  # share of the image in compact clipped patches on the paper


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


def _work_copy(image: Image.Image) -> Image.Image:
    """A grey copy whose longest side is WORK_SIDE, or up to 3% more (blur is measured in its pixels: a
    quarter more or less moves the verdicts). The last step (from under twice the size: a JPEG's reduced
    decode, or an integer reduce) picks pixels rather than averaging them: the paper's grain is often a
    2-pixel pattern that averaging wipes out, and picking costs a tenth of a box resize (0.02 vs 0.2 ms
    for a receipt decoded at 507 px, which was the largest part of the verdict's cost)."""
    gray = image if image.mode == "L" else image.convert("L")
    k = max(gray.size) // WORK_SIDE
    if k >= 2:  # an image that was not decoded reduced (not a JPEG): most of the way by an integer reduce
        gray = gray.reduce(k)
    w, h = gray.size
    if max(w, h) > WORK_SIDE * 1.03:  # a resize of a few pixels would cost as much as a large one
        f = WORK_SIDE / max(w, h)
        gray = gray.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.NEAREST)
    return gray


def _percentiles(hist: list[int], ps: tuple[float, ...]) -> list[float]:
    """np.percentile(values, ps) (linear interpolation) from the values' histogram (bin i counts value i)."""
    cum = list(accumulate(hist))
    n = cum[-1]
    out = []
    for p in ps:
        pos = p / 100 * (n - 1)
        lo = int(pos)
        # The k-th smallest value (0-based) is the first bin where the running count passes k.
        v_lo = bisect_left(cum, lo + 1)
        v_hi = bisect_left(cum, min(lo + 1, n - 1) + 1)
        out.append(v_lo + (pos - lo) * (v_hi - v_lo))
    return out


def _sharpness(g: np.ndarray, lo: float, hi: float) -> float:
    """p99 of |dx| + |dy| (capped at 1) over the copy contrast-stretched from ``lo`` to ``hi`` (0..1), taken at
    every other row (each with its step to the row below): the same edges, half the work.

    uint8 arithmetic (|a - b| as max - min) and a PIL histogram: no wider copy of the image.
    """
    h = g.shape[0] // 2 * 2
    if h < 2 or g.shape[1] < 2:
        return 0.0
    # Contrast-stretched first so that a dark or flat photo is not also called blurred: the stretch is linear
    # between lo and hi, so the steps of the copy clipped to them, over their span, are the stretched steps.
    lo8, hi8 = round(lo * 255), round(hi * 255)
    span = max(hi8 - lo8, 13)  # at least 0.05: a flat image is not stretched into noise
    s = np.clip(g[:h], lo8, hi8)
    top, right, below = s[0::2, :-1], s[0::2, 1:], s[1::2, :-1]
    dx = np.maximum(right, top)
    dx -= np.minimum(right, top)
    dy = np.maximum(below, top)
    dy -= np.minimum(below, top)
    # min(dx + dy, span) without leaving uint8 (each step is at most span): a step of the whole span is as
    # sharp as it gets (1.0).
    grad = np.subtract(np.uint8(span), dy)
    np.minimum(grad, dx, out=grad)
    grad += dy
    # Strong edges stay steep in a sharp photo (a stretched step spans one pixel); blur spreads every step.
    return _percentiles(Image.fromarray(grad).histogram(), (99,))[0] / span


def _tiles(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The darkest and the brightest pixel of each 4 x 4 tile (a partial last row/column of tiles is dropped)."""
    x = g[: g.shape[0] // BLOCK * BLOCK, : g.shape[1] // BLOCK * BLOCK]
    r0, r1, r2, r3 = x[0::4], x[1::4], x[2::4], x[3::4]
    lo = np.minimum(np.minimum(r0, r1), np.minimum(r2, r3))
    hi = np.maximum(np.maximum(r0, r1), np.maximum(r2, r3))
    tmin = np.minimum(np.minimum(lo[:, 0::4], lo[:, 1::4]), np.minimum(lo[:, 2::4], lo[:, 3::4]))
    tmax = np.maximum(np.maximum(hi[:, 0::4], hi[:, 1::4]), np.maximum(hi[:, 2::4], hi[:, 3::4]))
    return tmin, tmax


def _window_sums(m: np.ndarray, k: int) -> np.ndarray:
    """How many tiles of ``m`` each (2k+1)-square around a tile holds (outside the image counts 0)."""
    h, w = m.shape
    sat = np.zeros((h + 2 * k + 1, w + 2 * k + 1), dtype=np.int32)  # summed-area table of m padded by k
    np.cumsum(np.cumsum(m, axis=0, dtype=np.int32), axis=1, out=sat[k + 1 : k + 1 + h, k + 1 : k + 1 + w])
    sat[k + 1 + h :, k + 1 : k + 1 + w] = sat[k + h : k + 1 + h, k + 1 : k + 1 + w]  # past the bottom: same sums
    sat[:, k + 1 + w :] = sat[:, k + w : k + 1 + w]
    n = 2 * k + 1
    return sat[n:, n:] - sat[:-n, n:] - sat[n:, :-n] + sat[:-n, :-n]


def _patches(cand: np.ndarray, k: int = GLARE_CORE) -> np.ndarray:
    """The tiles of ``cand`` inside a (2k + 1)-square of ``cand`` tiles (a morphological opening);
    past the image's edge counts as ``cand``, so a patch cut by the edge still counts."""
    core = _window_sums(~cand, k) == 0
    if not core.any():
        return core
    return (_window_sums(core, k) > 0) & cand


def _on_paper(patch: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """The tiles of ``patch`` inside the rows and columns that hold the paper (at least 2 of its tiles each):
    the flat white around a small receipt (a scanner's lid, a frame) is no reflection. (So is a glare that
    wipes out the page up to the image's edge, which goes unseen.)"""
    rows, cols = np.flatnonzero(paper.sum(axis=1) >= 2), np.flatnonzero(paper.sum(axis=0) >= 2)
    if not rows.size or not cols.size:
        return np.zeros_like(patch)
    (r0, r1), (c0, c1) = (rows[0], rows[-1]), (cols[0], cols[-1])
    inside = np.zeros_like(patch)
    inside[r0 : r1 + 1, c0 : c1 + 1] = True
    return patch & inside


def _glare_fraction(tmin: np.ndarray, tmax: np.ndarray) -> float:
    """Share of the image in clipped patches on the paper (see the module doc)."""
    if min(tmin.shape) < 2 * GLARE_CORE + 1:
        return 0.0
    flat = tmin == 255
    unclipped = ~flat
    # The page: unclipped tiles of little contrast and not dark (paper, not print nor a solid black area).
    # A photo's page is grey (most of them darker than white), and a reflection far brighter than it.
    page = unclipped & (tmax - tmin <= _PAGE_CONTRAST) & (tmin >= _INK // 2)
    if 2 * np.count_nonzero(page & (tmax < _PHOTO_PAGE)) > np.count_nonzero(page):
        saturated = tmin >= _SATURATED
        patch = _patches(saturated)
        return float(_on_paper(patch, ~saturated).mean()) if patch.any() else 0.0
    patch = _patches(flat)
    if not patch.any():
        return 0.0
    # Grain: the share of blank tiles (2 tiles or more from print, past its halo of blur and JPEG ringing;
    # outside the patches) that are not exactly 255, judged on enough of them.
    blank = (_window_sums(tmin < _BLANK, 2) == 0) & ~patch
    n_blank = np.count_nonzero(blank)
    grain = blank & unclipped
    if n_blank >= _MIN_BLANK * flat.size and np.count_nonzero(grain) >= _GRAIN * n_blank:
        return float(_on_paper(patch, grain | (tmin < _BLANK)).mean())
    # No grain to go by: blank paper and a reflection look the same, so only a patch with print on both sides
    # of it counts, and a larger one (a label's blank between two symbols can be the core's size).
    ink = tmin < _INK
    down, up = np.maximum.accumulate(ink, axis=0), np.maximum.accumulate(ink[::-1], axis=0)[::-1]
    right, left = np.maximum.accumulate(ink, axis=1), np.maximum.accumulate(ink[:, ::-1], axis=1)[:, ::-1]
    return float(_patches(flat & ((down & up) | (right & left)), GLARE_CORE + 1).mean())


def _darkest_print(tmin: np.ndarray) -> float:
    """The 1st percentile of the inked tiles' darkest pixels, 0..1 (1.0: no print at all)."""
    hist = np.bincount(tmin.ravel(), minlength=256)[:230].tolist()
    return _percentiles(hist, (1,))[0] / 255.0 if any(hist) else 1.0


def assess(
    image: Image.Image, thresholds: Thresholds | None = None, *, original_size: tuple[int, int] | None = None
) -> Quality:
    """The verdict for a (reduced) decode of an upload; ``original_size`` is the upload's own size in pixels."""
    t = thresholds or Thresholds()
    work = _work_copy(image)
    width, height = original_size or image.size
    p05, lo, p50, p95, hi = (v / 255.0 for v in _percentiles(work.histogram(), (0.5, 1, 50, 95, 99)))
    g = np.asarray(work)
    sharpness = _sharpness(g, lo, hi)
    tmin, tmax = _tiles(g)

    found = set()
    if max(width, height) < t.min_side:
        found.add("too_small")
    if p95 < t.dark_paper:
        found.add("too_dark")
    if p05 > t.bright_ink and _darkest_print(tmin) > _LIGHT_PRINT:
        found.add("overexposed")
    if sharpness < t.min_sharpness and not found & {"too_dark", "overexposed"}:
        found.add("blurred")
    glare_fraction = _glare_fraction(tmin, tmax)
    if glare_fraction > t.max_glare and not found & {"overexposed", "blurred", "too_small"}:
        found.add("glare")
    reasons = [r for r in REASON_ORDER if r in found]
    return Quality("rescan" if reasons else "ok", reasons, sharpness, p50, glare_fraction)
