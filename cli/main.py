"""Entry point of the `ocrq` command; subcommands live in their own modules."""
import sys


def main(argv: list[str] | None = None) -> int:
    print("ocrq: under construction", file=sys.stderr)
    return 1
