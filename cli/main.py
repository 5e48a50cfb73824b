"""Entry point of the `ocrq` command; each subcommand lives in the module that owns it."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from shared.infra.settings import SettingsError

SUBCOMMAND_MODULES = (
    "cli.dev",
    "cli.serve",
    "cli.client",
    "cli.ocr_cmd",
    "cli.keys_cmd",
    "cli.reviews_cmd",
    "cli.models_cmd",
    "cli.backfill_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocrq", description="Asynchronous OCR job service")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue  # a feature not installed in this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SettingsError as err:
        print(f"ocrq: configuration error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
