"""Documents benchmark: worker peak RSS rendering a long PDF vs a short one, page by page.

    .venv/bin/python bench/documents.py            # 500 vs 5 pages
    .venv/bin/python bench/documents.py --pages 100

Each measurement runs in a fresh subprocess (peak RSS is a high-water mark, so runs must not share a
process). Target: peak RSS does not grow with the page count.

Hook for the service rows (issue 13: a 20-page PDF as 1 job vs 20 image jobs, 1 vs 2 workers):
add a function returning `Row`s to SERVICE_ROWS; main() prints them in the same table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RECEIPTS = ROOT.parent / "shared" / "data" / "receipts"


@dataclass
class Row:
    case: str
    value: str
    note: str = ""


SERVICE_ROWS: list[Callable[[], list[Row]]] = []  # the lead's service measurements go here


def make_pdf(path: Path, pages: int) -> None:
    """Scans on A4 pages, each page with its own text so no two pages are identical."""
    from reportlab.pdfgen import canvas

    scans = sorted(RECEIPTS.glob("*.jpg")) if RECEIPTS.is_dir() else []
    pdf = canvas.Canvas(str(path))
    for n in range(pages):
        if scans:
            pdf.drawImage(str(scans[n % len(scans)]), 60, 60, 400, 700)
        pdf.setFont("Helvetica", 14)
        pdf.drawString(60, 800, f"page {n + 1} of {pages}: delivery note {n * 7919 % 100000:05d}")
        pdf.showPage()
    pdf.save()


def measure(path: Path, mode: str, dpi: int, max_side: int) -> dict[str, float]:
    """Runs inside the measuring subprocess: render every page, report peak RSS and speed."""
    from shared import documents

    pages = documents.inspect_document(path.read_bytes(), max_pages=100_000).pages_total
    renderer = documents.PageRenderer()
    started = time.perf_counter()
    for n in range(1, pages + 1):
        if mode == "in-process":
            page = documents.render_page(path, n, dpi=dpi, max_side=max_side, time_limit_s=None)
        else:
            page = renderer.render(path, n, dpi=dpi, max_side=max_side, time_limit_s=60)
        del page
    elapsed = time.perf_counter() - started
    renderer.close()  # a waited-for child: its peak lands in RUSAGE_CHILDREN
    return {
        "pages": pages,
        "ms_per_page": 1000 * elapsed / pages,
        "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "renderer_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if mode != "in-process" else 0,
    }


def run_measure(path: Path, mode: str, dpi: int, max_side: int) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--measure",
        str(path),
        "--mode",
        mode,
        "--dpi",
        str(dpi),
        "--max-side",
        str(max_side),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss_rows(long_pages: int, short_pages: int, dpi: int, max_side: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        docs = {}
        for pages in (short_pages, long_pages):
            docs[pages] = Path(tmp) / f"doc{pages}.pdf"
            make_pdf(docs[pages], pages)
        for mode in ("in-process", "helper"):
            results = {pages: run_measure(path, mode, dpi, max_side) for pages, path in docs.items()}
            for pages, r in results.items():
                peak = r["renderer_mb"] if mode == "helper" else r["self_mb"]
                who = "renderer process" if mode == "helper" else "worker process"
                rows.append(Row(f"peak RSS, {pages}-page PDF, {mode}", f"{peak:.0f} MiB",
                                f"{who}; {r['ms_per_page']:.0f} ms/page; caller {r['self_mb']:.0f} MiB"))  # fmt: skip
            growth = (
                (results[long_pages]["renderer_mb" if mode == "helper" else "self_mb"])
                / (results[short_pages]["renderer_mb" if mode == "helper" else "self_mb"])
            )
            rows.append(Row(f"RSS ratio {long_pages}/{short_pages} pages, {mode}", f"{growth:.2f}", "target ~1.0"))
    return rows


def print_table(rows: list[Row]) -> None:
    width = max(len(r.case) for r in rows)
    vwidth = max(len(r.value) for r in rows)
    print(f"{'case':<{width}}  {'value':>{vwidth}}  note")
    for r in rows:
        print(f"{r.case:<{width}}  {r.value:>{vwidth}}  {r.note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--short-pages", type=int, default=5)
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--max-side", type=int, default=2048)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.mode, args.dpi, args.max_side)))
        return
    rows = rss_rows(args.pages, args.short_pages, args.dpi, args.max_side)
    for service_rows in SERVICE_ROWS:
        rows.extend(service_rows())
    print_table(rows)


if __name__ == "__main__":
    main()
