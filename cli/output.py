"""How the CLI hands over a result: the format asked (`--format`, or the `-o` file's suffix), a file
written whole, stdout for text, and never a binary PDF to a terminal. Shared by `ocrq submit` and `ocrq ocr`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RESULT_FORMATS = ("json", "text", "markdown", "hocr", "pdf")  # GET /v1/jobs/{id}/result?format=
BINARY_FORMATS = {"pdf"}
_SUFFIX_FORMATS = {".pdf": "pdf", ".hocr": "hocr", ".html": "hocr", ".md": "markdown", ".json": "json"}


def add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default=None, choices=RESULT_FORMATS,
                   help="the result as json, text, markdown, hocr or pdf (searchable PDF); `submit`: implies --wait")
    p.add_argument("-o", "--output", default=None, metavar="FILE",
                   help="write the result to FILE (format from --format, else from the suffix: .pdf .hocr .md "
                   ".json, other: text); without it text formats go to stdout")


def output_format(args: argparse.Namespace) -> str | None:
    """The format asked for: --format, else the -o file's suffix (text when unknown), else None."""
    if args.format:
        return str(args.format)
    if args.output:
        return _SUFFIX_FORMATS.get(Path(args.output).suffix.lower(), "text")
    return None


def refuses_binary_to_terminal(fmt: str | None, output: str | None, prog: str) -> bool:
    """A PDF is never written to a terminal: one line saying how, before any work is done."""
    if fmt in BINARY_FORMATS and not output and sys.stdout.isatty():
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
    if fmt not in BINARY_FORMATS and sys.stdout.isatty() and not body.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
    sys.stdout.buffer.flush()
