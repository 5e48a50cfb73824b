"""`ocrq models ...`: check, fabricate and pack HunyuanOCR weights folders."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_verify(args: argparse.Namespace) -> int:
    from models.checkpoints import verify

    problems = verify(args.path)
    for problem in problems:
        print(f"{args.path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {args.path} is a complete HunyuanOCR weights folder")
    return 0


def cmd_make_tiny(args: argparse.Namespace) -> int:
    from models.random_checkpoints import make_tiny

    out = make_tiny(args.dir)
    print(f"wrote tiny random HunyuanOCR checkpoint to {out} (test weights: output is meaningless)")
    return 0


def cmd_make_random(args: argparse.Namespace) -> int:
    from models.random_checkpoints import make_random

    out = make_random(args.dir)
    print(f"wrote full-size random HunyuanOCR checkpoint to {out} (for speed/memory tests only)")
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from models.checkpoints import pack

    try:
        out = pack(args.dir, args.out)
    except ValueError as err:
        print(f"ocrq models pack: {err}", file=sys.stderr)
        return 1
    print(f"packed {args.dir} into {out}; on the target: tar -xf {out.name}, then sha256sum -c SHA256SUMS inside it")
    return 0


def register(subparsers: Any) -> None:
    """Add `models` and its subcommands to the main CLI's subparsers."""
    models = subparsers.add_parser("models", help="check, fabricate and pack HunyuanOCR weights folders")
    sub = models.add_subparsers(dest="models_command", required=True)

    p = sub.add_parser("verify", help="report what a weights folder is missing (exit 1 if anything)")
    p.add_argument("path", help="weights folder (OCRQ_MODEL_PATH)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("make-tiny", help="write a tiny random checkpoint for tests (CPU, seconds)")
    p.add_argument("dir")
    p.set_defaults(func=cmd_make_tiny)

    p = sub.add_parser("make-random", help="write a full-size random checkpoint for GPU speed tests (~2 GB)")
    p.add_argument("dir")
    p.set_defaults(func=cmd_make_random)

    p = sub.add_parser("pack", help="tar a verified weights folder with a SHA256SUMS manifest")
    p.add_argument("dir")
    p.add_argument("out", metavar="OUT.tar")
    p.set_defaults(func=cmd_pack)
