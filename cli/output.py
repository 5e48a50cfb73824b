"""How the CLI hands over a result: the format asked (`--format`, or the `-o` file's suffix), a file
written whole, stdout for text, and never a binary PDF to a terminal; without a format, the text (the
barcodes task: its decoded fields as a table). Shared by `ocrq submit` and `ocrq ocr`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from shared.results.formats import FORMATS

DEFAULT_FORMAT = "text"  # an -o FILE whose suffix names no format


def suffix_formats() -> dict[str, str]:
    """`.pdf` -> pdf, ...: each format's file suffix and its other suffixes (shared/results/formats.py)."""
    return {f".{suffix}": f.name for f in FORMATS.values() for suffix in (f.suffix, *f.other_suffixes)}


def _is_binary(fmt: str | None) -> bool:
    found = FORMATS.get(fmt or "")
    return found is not None and found.binary


def add_output_args(p: argparse.ArgumentParser) -> None:
    names = [f"{f.name} ({f.label[:1].lower()}{f.label[1:]})" if f.binary else f.name for f in FORMATS.values()]
    p.add_argument("--format", default=None, choices=list(FORMATS),
                   help=f"the result as {', '.join(names[:-1])} or {names[-1]}; `submit`: implies --wait")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help=f"write the result to FILE (format from --format, else from the suffix: "
                   f"{' '.join(suffix_formats())}, other: {DEFAULT_FORMAT}); without it text formats go to stdout")


def output_format(args: argparse.Namespace) -> str | None:
    """The format asked for: --format, else the -o file's suffix (text when unknown), else None."""
    if args.format:
        return str(args.format)
    if args.output:
        return suffix_formats().get(Path(args.output).suffix.lower(), DEFAULT_FORMAT)
    return None


def refuses_binary_to_terminal(fmt: str | None, output: str | None, prog: str) -> bool:
    """A PDF is never written to a terminal: one line saying how, before any work is done."""
    if _is_binary(fmt) and not output and sys.stdout.isatty():
        print(f"{prog}: the {fmt} output is binary: write it with -o FILE or redirect stdout", file=sys.stderr)
        return True
    return False


def write_output(body: bytes, fmt: str, output: str | None) -> None:
    """The result's bytes to -o FILE (replaced whole, never half-written), else to stdout."""
    if output:
        path = Path(output)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_bytes(body)
        tmp.replace(path)
        print(f"wrote {path} ({fmt}, {len(body):,} bytes)", file=sys.stderr)
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(body)
    if not _is_binary(fmt) and sys.stdout.isatty() and not body.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.buffer.flush()


def result_text(result: dict[str, Any]) -> str:
    """What the CLI prints of a result without --format: its text, or for the barcodes task the table."""
    if result.get("task") != "barcodes":
        return str(result["text"])
    symbols = decoded_symbols(result)
    return barcode_table(symbols) if symbols else "no barcode found"


def decoded_symbols(result: dict[str, Any]) -> list[tuple[int | None, dict[str, Any]]]:
    """The symbols of a result with their page: an image's (page None), or each page's of a document."""
    if result.get("barcodes") is not None:
        return [(None, bc) for bc in result["barcodes"]]
    return [(p["page"], bc) for p in result.get("pages") or [] for bc in p.get("barcodes") or []]


def barcode_table(symbols: list[tuple[int | None, dict[str, Any]]]) -> str:
    """One row per decoded field (GS1 symbols) or per symbol (free text), GS1 errors as their own rows;
    a PAGE column when the symbols come from a document's pages."""
    paged = any(page is not None for page, _ in symbols)
    rows = [["#", *(["PAGE"] if paged else []), "FORMAT", "FIELD", "VALUE"]]
    for i, (page, bc) in enumerate(symbols, 1):
        lead = [str(i), *([str(page)] if paged else []), bc["format"]]
        gs1 = bc.get("gs1") or {}
        fields = gs1.get("fields") or {}
        for name, value in fields.items():
            rows.append([*lead, name, str(value)])
        if not fields:
            rows.append([*lead, "base64" if bc.get("encoding") == "base64" else "text", bc["text"]])
        for err in gs1.get("errors") or []:
            rows.append([*lead, f"! {err.get('code')}", f"AI {err.get('ai')}: {err.get('message')}"])
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(r[c].ljust(w) for c, w in enumerate(widths)) + "  " + r[-1] for r in rows)
