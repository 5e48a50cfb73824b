"""`ocrq backfill`, `ocrq batch` and `ocrq planner`: bulk OCR of objects already in storage.

    ocrq backfill s3://scans/2019/ --task text --out s3://scans/ocr/ --wait
    ocrq backfill s3://scans --manifest keys.jsonl --out s3://scans/ocr/ --dry-run
    ocrq backfill s3://scans/pdfs/ --out s3://scans/ocr/ --format json,pdf --wait   # + searchable PDFs
    ocrq batch show|cancel|failures|retry-failed BATCH_ID
    ocrq planner            # a planner process of its own (`ocrq webhooks` runs one unless OCRQ_BATCH_PLANNER=off)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from cli.client import _problem_text, connect, plain, print_json, reaching
from cli.ocr_cmd import add_task_args
from ocrq_client import ApiError, BatchTimeout, Client
from shared.results.formats import FORMATS


def parse_s3(url: str) -> tuple[str, str]:
    """s3://bucket/prefix -> (bucket, prefix); a bare 'bucket/prefix' is accepted too."""
    rest = url[len("s3://"):] if url.startswith("s3://") else url
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise SystemExit(f"ocrq backfill: not a bucket URL: {url!r} (use s3://bucket/prefix)")
    return bucket, prefix


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("backfill", help="OCR every object under a prefix (or in a manifest) as a batch")
    p.add_argument("source", help="s3://bucket/prefix of the objects to read")
    p.add_argument("--out", required=True, help="s3://bucket/prefix for the results and the ledger")
    p.add_argument(
        "--format",
        action="append",
        default=None,
        metavar="FORMATS",
        help=f"what to write per item: {', '.join(FORMATS)} (default: json); comma-separated or repeated "
        "(e.g. --format json,pdf); without json only the other outputs are written",
    )
    p.add_argument(
        "--manifest",
        default=None,
        help="a local JSONL/CSV file of keys (sent with the request), or a key / s3:// URL of one in storage",
    )
    p.add_argument("--glob", default=None, help="only keys matching this pattern (e.g. '*.png')")
    add_task_args(p)
    p.add_argument("--window", type=int, default=None, help="items in flight at once (default: server's)")
    p.add_argument("--webhook-url", default=None, help="POSTed batch.completed when done")
    p.add_argument("--dry-run", action="store_true", help="list and count what would run or be skipped; queue nothing")
    p.add_argument("--limit", type=int, default=10_000, help="items a dry run looks at, at most")
    p.add_argument("--wait", action="store_true", help="show progress until done; exit 1 if items failed")
    p.add_argument("--timeout", type=float, default=24 * 3600.0, help="seconds to wait with --wait")
    p.add_argument("--json", action="store_true")
    p.add_argument("--url", default=None)
    p.add_argument("--api-key", default=None)
    p.set_defaults(func=cmd_backfill)

    b = sub.add_parser("batch", help="show, cancel or retry a batch")
    b.add_argument("action", choices=("show", "cancel", "failures", "retry-failed", "wait"))
    b.add_argument("batch_id")
    b.add_argument("--json", action="store_true")
    b.add_argument("--url", default=None)
    b.add_argument("--api-key", default=None)
    b.add_argument("--timeout", type=float, default=24 * 3600.0)
    b.set_defaults(func=cmd_batch)

    pl = sub.add_parser("planner", help="run a batch planner process (listing, window refill, ledger)")
    pl.add_argument("--interval", type=float, default=1.0)
    pl.set_defaults(func=cmd_planner)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments of Client.backfill from the command line (a local manifest file is sent along)."""
    for url in (args.source, args.out):
        parse_s3(url)  # what the client would refuse, said in this command's words
    opts: dict[str, Any] = {"task": args.task, "glob": args.glob or None}
    if args.manifest:
        local = Path(args.manifest)
        if local.is_file():
            opts["manifest_text"] = local.read_text()
            if local.suffix.lower() == ".csv":
                opts["manifest_format"] = "csv"
            elif local.suffix.lower() in (".jsonl", ".json", ".ndjson"):
                opts["manifest_format"] = "jsonl"
        else:
            opts["manifest"] = args.manifest  # a key in the source bucket, or s3:// in it
    if args.fields:
        opts["fields"] = [f.strip() for f in args.fields.split(",") if f.strip()]
    for name in ("target_lang", "instruction", "webhook_url", "window"):
        opts[name] = getattr(args, name)
    if args.format:
        formats = [f.strip() for arg in args.format for f in arg.split(",") if f.strip()]
        opts["formats"] = formats[0] if len(formats) == 1 else formats  # the gateway validates them
    if args.dry_run:
        opts["dry_run"], opts["dry_run_limit"] = True, args.limit
    return opts


@reaching
def cmd_backfill(args: argparse.Namespace) -> int:
    client = connect(args.url, args.api_key)
    try:
        data = plain(client.backfill(args.source, args.out, **_options(args)))
    except ValueError as err:  # a bucket URL or manifest the client refused before sending
        raise SystemExit(f"ocrq backfill: {err}") from None
    except ApiError as err:
        print(f"ocrq backfill: {_problem_text(err)}", file=sys.stderr)
        return 1
    if args.dry_run:
        return print_dry_run(data, args.json)
    if args.json and not args.wait:
        print_json(data)
        return 0
    print(
        f"batch {data['id']} created: {_src_text(data)} -> s3://{data['output']['bucket']}/{data['output']['prefix']}",
        file=sys.stderr,
    )
    if not args.wait:
        print(data["id"])
        return 0
    return wait_batch(client, data["id"], args.timeout, args.json)


def _src_text(b: dict[str, Any]) -> str:
    s = b["source"]
    return f"s3://{s['bucket']}/" + (f"{s['manifest']} (manifest)" if "manifest" in s else s.get("prefix", ""))


def print_dry_run(d: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print_json(d)
        return 0
    more = " (truncated: raise --limit)" if d["truncated"] else ""
    print(
        f"dry run: {d['listed']} items listed{more}  engine {d['engine']} {d['engine_version'] or '(version unknown)'}"
    )
    print(f"  would run:   {d['would_run']}")
    print(f"  would skip:  {d['would_skip']}   (a result with the same content, task and engine version exists)")
    print(f"  would fail:  {d['would_fail']}")
    if d.get("note"):
        print(f"  note: {d['note']}")
    for kind in ("run", "skip"):
        keys = d["samples"][kind]
        if keys:
            print(f"  e.g. {kind}: " + ", ".join(keys[:5]) + (" ..." if len(keys) > 5 else ""))
    for f in d["samples"]["fail"][:10]:
        print(f"  fail: {f['key']}: {f['code']}: {f['message']}")
    print("nothing was queued")
    return 0


def _fmt_eta(s: float | None) -> str:
    if s is None:
        return "--"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def progress_line(b: dict[str, Any], width: int = 30) -> str:
    c = b["counts"]
    done, total = b["done"], b["total"]
    shown_total = total if total is not None else max(c["planned"], done)
    frac = done / shown_total if shown_total else 0.0
    fill = int(frac * width)
    tot = f"{shown_total}" + ("" if total is not None else "+")
    return (
        f"[{'#' * fill}{'.' * (width - fill)}] {done}/{tot} {frac * 100:5.1f}%  "
        f"{b['throughput_items_per_s']:.1f} items/s  ETA {_fmt_eta(b['eta_s'])}  "
        f"ok {c['succeeded']}  skipped {c['skipped']}  failed {c['failed']}  in flight {c['queued'] + c['running']}"
        f"{_pages_text(c)}"
    )


def _pages_text(c: dict[str, Any]) -> str:
    """Page counts, shown once the batch has documents (pages that are not one per item)."""
    total = c.get("pages_total") or 0
    if not total or total == c.get("planned", 0):  # images only: pages are items
        return ""
    seen = c.get("pages_done", 0) + c.get("pages_failed", 0) + c.get("pages_skipped", 0)
    failed = f" ({c['pages_failed']} failed)" if c.get("pages_failed") else ""
    return f"  pages {seen}/{total}{failed}"


def wait_batch(client: Client, batch_id: str, timeout: float, as_json: bool = False) -> int:
    tty = sys.stderr.isatty()
    last_print = [0.0]

    def progress(batch: Any) -> None:
        b = plain(batch)
        final = b["status"] in ("completed", "canceled")
        line = progress_line(b)
        if tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif final or time.monotonic() - last_print[0] >= 5:
            print(line, file=sys.stderr, flush=True)
            last_print[0] = time.monotonic()

    try:
        b = plain(client.wait_batch(batch_id, timeout, poll_s=1.0, on_progress=progress))
    except ApiError as err:
        print(f"\nocrq: {_problem_text(err)}", file=sys.stderr)
        return 1
    except BatchTimeout as late:
        print(f"\nocrq: {late}", file=sys.stderr)
        return 1
    if tty:
        print(file=sys.stderr)
    c = b["counts"]
    if as_json:
        print_json(b)
    else:
        print(
            f"batch {batch_id} {b['status']}: {c['succeeded']} succeeded, {c['skipped']} skipped, {c['failed']} failed"
            f"{', ' + str(c['canceled']) + ' canceled' if c['canceled'] else ''}"
            f"{'; pages: ' + _page_summary(c) if c.get('pages_total') else ''}"
            f"; ledger s3://{b['output']['bucket']}/{b['output']['ledger']}"
        )
    if c["failed"]:
        print(f"see: ocrq batch failures {batch_id}", file=sys.stderr)
        return 1
    return 0 if b["status"] == "completed" else 1


def _page_summary(c: dict[str, Any]) -> str:
    return f"{c.get('pages_done', 0)} read, {c.get('pages_skipped', 0)} skipped, {c.get('pages_failed', 0)} failed"


@reaching
def cmd_batch(args: argparse.Namespace) -> int:
    client = connect(args.url, args.api_key)
    if args.action == "wait":
        return wait_batch(client, args.batch_id, args.timeout, args.json)
    try:
        if args.action == "show":
            data = plain(client.batch(args.batch_id))
        elif args.action == "cancel":
            data = plain(client.cancel_batch(args.batch_id))
        elif args.action == "retry-failed":
            data = plain(client.retry_failed(args.batch_id))
        else:
            data = plain(client.batch_failures(args.batch_id, limit=1000))
    except ApiError as err:
        print(f"ocrq batch: {_problem_text(err)}", file=sys.stderr)
        return 1
    if args.json or args.action in ("show", "cancel"):
        print_json(data)
    elif args.action == "failures":
        for f in data["items"]:
            where = f" (line {f['line']})" if f.get("line") else ""
            print(f"{f['key']}{where}: {f['code']}: {f['message']}")
    else:
        print(f"requeued {data['requeued']} failed items")
    return 0


def cmd_planner(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    from shared.infra.redis_client import connect
    from shared.infra.settings import load_settings
    from shared.infra.storage import open_blob_store
    from workers.celery_app import TASK_RUN_JOB, make_celery
    from workers.planner import Planner

    logging.getLogger("ocrq").setLevel(logging.INFO)
    settings = load_settings()
    celery = make_celery(settings)

    def send(job_id: str, queue: str) -> None:
        celery.send_task(TASK_RUN_JOB, args=[job_id], queue=queue)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("ocrq planner: running", file=sys.stderr, flush=True)
    Planner(settings, connect(settings.redis_url), open_blob_store(settings), send).run(stop, args.interval)
    return 0
