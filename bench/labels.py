"""Label benchmarks: barcode decode time per image size, the rescan verdict's cost at the gateway, the
barcodes task against the OCR task on the same labels, and the gateway's submit CPU with quality=check.

    .venv/bin/python bench/labels.py [--no-service] [--submits 100]

The service rows start their own redis-server, S3 server (moto_server) and gateway on loopback (bench/gateway.py's
Stack, no worker: only the gateway's work is measured) and post ~100 KB JPEGs made from the receipt scans. The
verdict rows count, per degradation of scripts/make_labels.py (fixed parameters, and seed 1), the receipts that
get the right first reason. Timings on a shared machine swing with its load: the load average is printed.

Hook for the lead: ``EXTRA_ROWS`` takes callables returning (name, value, unit) rows (gateway submit CPU
with quality=check vs without, barcodes-task vs OCR-task images/s) and prints them in the same table.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))

import make_labels as ml  # noqa: E402

from models.barcodes import decode_barcodes  # noqa: E402
from shared.intake.images import ImageInfo, inspect  # noqa: E402
from shared.intake.quality import assess  # noqa: E402

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


INSPECT_LIMITS: dict[str, Any] = {"formats": ("JPEG",), "max_pixels": 40_000_000, "max_frames": 1}  # what inspect() is given


def _reduced(data: bytes) -> ImageInfo:
    """The gateway's decode for quality=check: inspect(reduced=True)."""
    return inspect(data, reduced=True, **INSPECT_LIMITS)


def quality_rows() -> list[tuple[str, float, str]]:
    rows = []
    for path in ml.receipt_paths()[:12]:
        data = path.read_bytes()
        kb = len(data) / 1024
        info = _reduced(data)
        assert info.reduced is not None
        d = _best_ms(lambda data=data: _reduced(data), 20)
        a = _best_ms(lambda i=info: assess(i.reduced, original_size=(i.width, i.height)), 20)
        rows.append((f"{path.name} ({kb:.0f} KB) inspect(reduced=True), {max(info.reduced.size)} px", d, "ms"))
        rows.append((f"{path.name} assess", a, "ms"))
        rows.append((f"{path.name} assess per 100 KB", a * 100 / kb, "ms"))
    return rows


def task_rows() -> list[tuple[str, float, str]]:
    """Images/s of the worker's own path (decode, task, result) on the generated labels, one process, CPU."""
    from cli.ocr_cmd import ocr_file
    from models.registry import load_engine
    from shared.infra.settings import load_settings
    from shared.jobs.task_spec import TaskSpec

    settings = load_settings()
    engine = load_engine(settings, "rapidocr")
    images = []
    for _, im, _ in ml.labels():
        buf = io.BytesIO()
        im.save(buf, "PNG")
        images.append(buf.getvalue())
    rows = []
    for label, spec in (("barcodes task", TaskSpec(task="barcodes")), ("text task (rapidocr) + barcodes", TaskSpec()),
                        ("text task (rapidocr), barcodes=off", TaskSpec(barcodes="off"))):
        ocr_file(images[0], settings, engine, spec)  # warm: model sessions, first-call allocations
        t = time.perf_counter()
        for data in images:
            ocr_file(data, settings, engine, spec)
        per_s = len(images) / (time.perf_counter() - t)
        rows.append((f"{label}: {len(images)} labels", per_s, "images/s"))
    return rows


def _receipt_jpegs(count: int) -> list[bytes]:
    """Distinct ~100 KB JPEGs: the receipt scans, one pixel changed per copy (distinct sha256, no dedup)."""
    scans = [Image.open(p).convert("RGB") for p in ml.receipt_paths()]
    out = []
    for i in range(count):
        im = scans[i % len(scans)].copy()
        im.putpixel((i % im.width, 0), (i % 256, 0, 255))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def gateway_rows(submits: int, pairs: int = 12) -> list[tuple[str, float, str]]:
    """The gateway's CPU per accepted submit (gunicorn and its workers, from /proc) without and with quality=check.

    ``pairs`` pairs of rounds, the two modes alternating (which goes first alternates too), and the added cost is
    the median of each pair's difference: drift in the box's other load hits both rounds of a pair alike.
    """
    from concurrent.futures import ThreadPoolExecutor

    from gateway import Stack, cpu_s, descendants  # bench/gateway.py

    if not ml.receipt_paths():
        return []
    modes = [m for i in range(pairs) for m in (("none", "check") if i % 2 == 0 else ("check", "none"))]
    images = _receipt_jpegs(len(modes) * submits + 1)
    kb = statistics.mean(len(b) for b in images) / 1024
    cpu: dict[str, list[float]] = {"none": [], "check": []}
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), 1)
        try:
            http = stack.session()
            for data in images[-1:]:  # warm up both paths once
                for form in ({}, {"quality": "check"}):
                    http.post(f"{stack.url}/v1/jobs", files={"file": ("w.jpg", data)}, data=form,
                              timeout=30).raise_for_status()
            pids = descendants(stack.procs[2].pid)
            for i, mode in enumerate(modes):
                batch = images[i * submits : (i + 1) * submits]
                form = {"quality": "check"} if mode == "check" else {}

                def one(data: bytes, form: dict[str, str] = form) -> int:
                    r = http.post(f"{stack.url}/v1/jobs", files={"file": ("scan.jpg", data, "image/jpeg")},
                                  data=form, timeout=60)
                    return r.status_code

                c0 = cpu_s(pids)
                with ThreadPoolExecutor(4) as pool:
                    codes = list(pool.map(one, batch))
                if any(c != 202 for c in codes):
                    raise SystemExit(f"quality={mode}: answers {sorted(set(codes))}, not all 202")
                cpu[mode].append((cpu_s(pids) - c0) * 1000 / len(batch))
        finally:
            stack.stop()
    diffs = [(c - n) * 100 / kb for n, c in zip(cpu["none"], cpu["check"], strict=True)]  # per 100 KB
    n = pairs * submits
    return [
        (f"gateway CPU per submit, {kb:.0f} KB JPEG, no quality ({n} submits, median of {pairs} rounds)",
         statistics.median(cpu["none"]), "ms"),
        (f"gateway CPU per submit, {kb:.0f} KB JPEG, quality=check ({n} submits, median of {pairs} rounds)",
         statistics.median(cpu["check"]), "ms"),
        (f"quality=check added per 100 KB JPEG (gateway CPU, median of {pairs} paired rounds)",
         statistics.median(diffs), f"ms (pairs {min(diffs):+.2f} .. {max(diffs):+.2f})"),
    ]


def inspect_rows(repeat: int = 30) -> list[tuple[str, float, str]]:
    """The same difference in-process, without HTTP noise: inspect() alone vs inspect(reduced=True) + assess.

    Each image's best time of ``repeat`` tries, the two ways alternating, so that a burst of other load on a
    shared machine lands in few tries and hits both ways alike.
    """
    from shared.intake.quality import Thresholds

    images = _receipt_jpegs(12)

    def checked(d: bytes) -> None:
        info = _reduced(d)
        assert info.reduced is not None
        assess(info.reduced, Thresholds(), original_size=(info.width, info.height))

    plain, check = [float("inf")] * len(images), [float("inf")] * len(images)
    for _ in range(repeat):
        for i, d in enumerate(images):
            plain[i] = min(plain[i], _best_ms(lambda d=d: inspect(d, **INSPECT_LIMITS), 1))
            check[i] = min(check[i], _best_ms(lambda d=d: checked(d), 1))
    kbs = [len(d) / 1024 for d in images]
    per_100kb = [(c - p) * 100 / kb for p, c, kb in zip(plain, check, kbs, strict=True)]
    worst = max(range(len(images)), key=lambda i: per_100kb[i])
    return [(f"inspect() per {statistics.mean(kbs):.0f} KB JPEG", statistics.mean(plain), "ms"),
            ("inspect(reduced=True) + assess", statistics.mean(check), "ms"),
            ("added per 100 KB JPEG (in-process, all 12)", (sum(check) - sum(plain)) * 100 / sum(kbs), "ms"),
            (f"added per 100 KB JPEG (in-process, worst: {kbs[worst]:.0f} KB)", per_100kb[worst], "ms")]


def verdict_rows(seeds: tuple[int | None, ...] = (None, 1)) -> list[tuple[str, float, str]]:
    """How many receipts get the right first reason (clean: verdict ok), per degradation and seed of
    scripts/make_labels.py (None: its fixed parameters), from a reduced decode of a quality-90 JPEG."""
    from shared.intake.quality import Thresholds

    rows = []
    for seed in seeds:
        got: dict[str, list[bool]] = {}
        for _, im, reason in ml.degraded_receipts(seed=seed):
            if seed is not None and reason is None:
                continue  # the clean scans do not depend on the seed
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=90)
            info = _reduced(buf.getvalue())
            assert info.reduced is not None
            q = assess(info.reduced, Thresholds(), original_size=(info.width, info.height))
            got.setdefault(reason or "clean", []).append(
                q.verdict == "ok" if reason is None else q.reasons[:1] == [reason])
        for name, ok in got.items():
            rows.append((f"verdict, seed {seed}: {name} {'ok' if name == 'clean' else 'right first reason'}",
                         sum(ok), f"of {len(ok)}"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-service", action="store_true", help="skip the rows that start a gateway")
    ap.add_argument("--submits", type=int, default=100, help="submissions per round (twelve rounds per mode, paired)")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    rows = decode_rows() + quality_rows() + inspect_rows() + verdict_rows() + task_rows()
    if not args.no_service:
        rows += gateway_rows(args.submits)
    for extra in EXTRA_ROWS:
        rows += extra()
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':{width}s}  {'value':>9s}  unit")
    for name, value, unit in rows:
        print(f"{name:{width}s}  {value:9.3f}  {unit}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
