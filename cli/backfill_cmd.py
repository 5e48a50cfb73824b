"""`ocrq backfill`, `ocrq batch` and `ocrq planner`: bulk OCR of objects already in storage.

    ocrq backfill s3://scans/2019/ --task text --out s3://scans/ocr/ --wait
    ocrq backfill s3://scans --manifest keys.jsonl --out s3://scans/ocr/ --dry-run
    ocrq backfill s3://scans/pdfs/ --out s3://scans/ocr/ --format json,pdf --wait   # + searchable PDFs
    ocrq batch show|cancel|failures|retry-failed BATCH_ID
    ocrq planner            # a planner process of its own (`ocrq webhooks` runs one unless OCRQ_BATCH_PLANNER=off)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from cli.client import _problem_text, _request, resolve
from cli.ocr_cmd import add_task_args


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
        help="what to write per item: json (default), pdf (searchable PDF), hocr, text, markdown; "
        "comma-separated or repeated (e.g. --format json,pdf); without json only the other outputs are written",
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


def _body(args: argparse.Namespace) -> dict[str, Any]:
    bucket, prefix = parse_s3(args.source)
    out_bucket, out_prefix = parse_s3(args.out)
    source: dict[str, Any] = {"bucket": bucket}
    if args.manifest:
        local = Path(args.manifest)
        if local.is_file():
            source["manifest_text"] = local.read_text()
            if local.suffix.lower() == ".csv":
                source["manifest_format"] = "csv"
            elif local.suffix.lower() in (".jsonl", ".json", ".ndjson"):
                source["manifest_format"] = "jsonl"
        elif args.manifest.startswith("s3://"):
            mb, mk = parse_s3(args.manifest)
            if mb != bucket:
                raise SystemExit("ocrq backfill: the manifest must be in the source bucket")
            source["manifest"] = mk
        else:
            source["manifest"] = args.manifest
    else:
        source["prefix"] = prefix
        if args.glob:
            source["glob"] = args.glob
    body: dict[str, Any] = {"source": source, "output": {"bucket": out_bucket, "prefix": out_prefix}, "task": args.task}
    if args.fields:
        body["fields"] = [f.strip() for f in args.fields.split(",") if f.strip()]
    for name in ("target_lang", "instruction", "webhook_url", "window"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.format:
        formats = [f.strip() for arg in args.format for f in arg.split(",") if f.strip()]
        body["output_format"] = formats[0] if len(formats) == 1 else formats  # the gateway validates them
    return body


def cmd_backfill(args: argparse.Namespace) -> int:
    url, key = resolve(args.url, args.api_key)
    body = _body(args)
    if args.dry_run:
        body["dry_run"] = True
        body["dry_run_limit"] = args.limit
    resp = _request("POST", f"{url}/v1/batches", key, json=body)
    if resp.status_code not in (200, 202):
        print(f"ocrq backfill: {_problem_text(resp)}", file=sys.stderr)
        return 1
    data = resp.json()
    if args.dry_run:
        return print_dry_run(data, args.json)
    if args.json and not args.wait:
        print(json.dumps(data, indent=2))
        return 0
    print(
        f"batch {data['id']} created: {_src_text(data)} -> s3://{data['output']['bucket']}/{data['output']['prefix']}",
        file=sys.stderr,
    )
    if not args.wait:
        print(data["id"])
        return 0
    return wait_batch(url, key, data["id"], args.timeout, args.json)


def _src_text(b: dict[str, Any]) -> str:
    s = b["source"]
    return f"s3://{s['bucket']}/" + (f"{s['manifest']} (manifest)" if "manifest" in s else s.get("prefix", ""))


def print_dry_run(d: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(d, indent=2))
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


def wait_batch(url: str, key: str, batch_id: str, timeout: float, as_json: bool = False) -> int:
    tty = sys.stderr.isatty()
    deadline = time.monotonic() + timeout
    last_print = 0.0
    b: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = _request("GET", f"{url}/v1/batches/{batch_id}", key)
        if resp.status_code != 200:
            print(f"\nocrq: {_problem_text(resp)}", file=sys.stderr)
            return 1
        b = resp.json()
        final = b["status"] in ("completed", "canceled")
        line = progress_line(b)
        if tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif final or time.monotonic() - last_print >= 5:
            print(line, file=sys.stderr, flush=True)
            last_print = time.monotonic()
        if final:
            break
        time.sleep(1.0)
    else:
        print(f"\nocrq: batch {batch_id} not done after {timeout:.0f} s (it keeps running)", file=sys.stderr)
        return 1
    if tty:
        print(file=sys.stderr)
    c = b["counts"]
    if as_json:
        print(json.dumps(b, indent=2))
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


def cmd_batch(args: argparse.Namespace) -> int:
    url, key = resolve(args.url, args.api_key)
    base = f"{url}/v1/batches/{args.batch_id}"
    if args.action == "wait":
        return wait_batch(url, key, args.batch_id, args.timeout, args.json)
    if args.action == "show":
        resp = _request("GET", base, key)
    elif args.action == "cancel":
        resp = _request("DELETE", base, key)
    elif args.action == "retry-failed":
        resp = _request("POST", f"{base}/retry-failed", key)
    else:
        resp = _request("GET", f"{base}/failures", key, params={"limit": 1000})
    if resp.status_code not in (200, 202):
        print(f"ocrq batch: {_problem_text(resp)}", file=sys.stderr)
        return 1
    data = resp.json()
    if args.json or args.action in ("show", "cancel"):
        print(json.dumps(data, indent=2))
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

    from shared.blobs import open_blob_store
    from shared.redis_client import connect
    from shared.settings import load_settings
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
