"""`ocrq submit` and `ocrq status`, through the Python client (clients/python: ocrq_client), which
every command that calls the gateway uses: its requests, retries and errors are the client's.

Where to connect comes from --url / OCRQ_URL and OCRQ_API_KEY, else from the file `ocrq dev`
writes: OCRQ_CLIENT_CONFIG when set, else the nearest `var/client.json` from the working directory
up (the dev instance of this checkout: its data dir), else ~/.config/ocrq/client.json (the last
`ocrq dev` started anywhere). Two checkouts each running `ocrq dev` so keep their own keys.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.ocr_cmd import add_task_args
from cli.output import add_output_args, output_format, refuses_binary_to_terminal, result_text, write_output
from ocrq_client import ApiError, Client, JobTimeout, TransportError

FINAL = {"succeeded", "failed", "canceled"}


LOCAL_CONFIG = Path("var") / "client.json"  # under `ocrq dev`'s default --data-dir


def config_path() -> Path:
    """Where the client settings are read from (see the module docstring for the order)."""
    if os.environ.get("OCRQ_CLIENT_CONFIG"):
        return Path(os.environ["OCRQ_CLIENT_CONFIG"])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / LOCAL_CONFIG).is_file():
            return folder / LOCAL_CONFIG
    return _global_config()


def _global_config() -> Path:
    return Path.home() / ".config" / "ocrq" / "client.json"


def write_client_config(url: str, api_key: str, *, redis_url: str = "", data_dir: Path | None = None) -> Path:
    """Save where a dev instance is: its gateway and key (for submit/status), its Redis (for keys).

    Written into the instance's data dir (found again from the checkout) and as the user-wide
    default; with OCRQ_CLIENT_CONFIG set, to that file alone. Returns the instance's own file.
    """
    doc = {"url": url, "api_key": api_key, **({"redis_url": redis_url} if redis_url else {})}
    if os.environ.get("OCRQ_CLIENT_CONFIG"):
        targets = [Path(os.environ["OCRQ_CLIENT_CONFIG"])]
    else:
        targets = ([data_dir / "client.json"] if data_dir is not None else []) + [_global_config()]
    for path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 before the key is written into it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(doc, indent=2))
        path.chmod(0o600)
    return targets[0]


def read_client_config() -> dict[str, str]:
    """What `ocrq dev` saved; {} when there is nothing usable."""
    try:
        saved = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in saved.items() if isinstance(v, str)} if isinstance(saved, dict) else {}


NO_KEY = ("no API key: run `ocrq dev` (it saves its key for this checkout) or set OCRQ_API_KEY "
          "(and OCRQ_URL for a gateway elsewhere)")


def resolve(url: str | None, key: str | None) -> tuple[str, str]:
    """(gateway URL, API key); exits with what to do when there is no key at all."""
    saved = read_client_config()
    url = url or os.environ.get("OCRQ_URL") or saved.get("url") or "http://127.0.0.1:8080"
    key = key or os.environ.get("OCRQ_API_KEY") or saved.get("api_key") or ""
    if not key:
        raise SystemExit(f"ocrq: {NO_KEY}")
    return url.rstrip("/"), key


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("submit", help="submit an image or a document (PDF, multi-page TIFF) to the service")
    p.add_argument("file")
    p.add_argument("--pages", default=None, help='PDF/TIFF: the pages to read, e.g. "1-3,7" (default: all)')
    p.add_argument("--url", default=None)
    p.add_argument("--api-key", default=None)
    add_task_args(p)
    p.add_argument("--priority", default="interactive", choices=("interactive", "bulk"))
    p.add_argument("--metadata", default=None, help="JSON object echoed back with the job")
    p.add_argument("--webhook-url", default=None)
    p.add_argument("--barcodes", default=None, choices=("auto", "on", "off"),
                   help="decode barcodes beside the task (auto: on for images)")
    p.add_argument("--quality", default=None, choices=("check", "require"),
                   help="rescan verdict at submit; require: refuse a photo to retake")
    p.add_argument("--wait", action="store_true", help="wait for the result and print its text")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait with --wait")
    p.add_argument("--json", action="store_true", help="print the full job JSON")
    add_output_args(p)
    p.set_defaults(func=cmd_submit)

    s = sub.add_parser("status", help="show a job")
    s.add_argument("job_id")
    s.add_argument("--url", default=None)
    s.add_argument("--api-key", default=None)
    s.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the job to finish (max 30)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)


def connect(url: str | None, key: str | None) -> Client:
    """The client of the gateway named by --url/--api-key, the environment or `ocrq dev`'s file.
    Up to 4 tries per request (429 and 503 after their Retry-After, at most 10 s; a refused connection)."""
    return Client(*resolve(url, key), retries=3, max_retry_wait_s=10.0)


def reaching(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command that calls the gateway: no answer at all (after the client's retries) ends it in one line."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except TransportError as err:
            raise SystemExit(f"ocrq: {err}") from None

    return run


def plain(model: Any) -> dict[str, Any]:
    """A model of the client as the JSON the gateway sent (what --json prints and the printers read)."""
    out: dict[str, Any] = model.to_dict()
    return out


def print_json(data: dict[str, Any], **kw: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, **kw))  # the gateway's order: its JSON is key-sorted


def _problem_text(err: ApiError) -> str:
    text = str(err)  # "<status> <title>: <detail>"
    if err.status == 401:  # in the CLI's words, not HTTP's
        text += f" (the API key was refused; {NO_KEY.removeprefix('no API key: ')})"
    return text


def wait_for(client: Client, job_id: str, timeout: float) -> dict[str, Any]:
    """The job once final, or as it is after `timeout` s (the caller says it is not done)."""
    try:
        return plain(client.wait(job_id, timeout))
    except JobTimeout as late:
        return plain(late.job)
    except ApiError as err:
        raise SystemExit(f"ocrq: {_problem_text(err)}") from None


def print_job(job: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print_json(job, ensure_ascii=False)
    elif job["status"] == "succeeded":
        result = job["result"]
        print(result_text(result))
        if job.get("needs_review"):
            print(f"needs review: {', '.join(job.get('review_reasons') or [])}", file=sys.stderr)
    elif job["status"] == "failed":
        err = job.get("error") or {}
        print(f"ocrq: job {job['id']} failed: {err.get('code')}: {err.get('message')}", file=sys.stderr)
    else:
        print(f"{job['id']} {job['status']}")
    if job["status"] in ("failed", "canceled"):
        return 1
    return 0


@reaching
def cmd_submit(args: argparse.Namespace) -> int:
    client = connect(args.url, args.api_key)
    path = Path(args.file)
    if not path.is_file():
        print(f"ocrq submit: no such file: {path}", file=sys.stderr)
        return 2
    fmt = output_format(args)
    if refuses_binary_to_terminal(fmt, args.output, "ocrq submit"):
        return 2
    options = {name: getattr(args, name) or None
               for name in ("fields", "target_lang", "instruction", "metadata", "webhook_url", "barcodes", "quality",
                            "pages")}
    try:  # a fresh Idempotency-Key per submit (the client's default): its retries never make two jobs
        job = plain(client.submit(path, task=args.task, priority=args.priority, **options))
    except ApiError as err:
        print(f"ocrq submit: {_problem_text(err)}", file=sys.stderr)
        return 1
    if job.get("quality") and not args.json:
        q = job["quality"]
        print(f"quality: {q['verdict']}" + (f" ({', '.join(q['reasons'])})" if q["reasons"] else ""), file=sys.stderr)
    if not args.wait and fmt is None:
        if args.json:
            print_json(job)
        else:
            print(job["id"])
        return 0
    job = wait_for(client, job["id"], args.timeout)
    if job["status"] not in FINAL:
        print(f"ocrq submit: job {job['id']} still {job['status']} after {args.timeout:.0f} s", file=sys.stderr)
        return 1
    if fmt is None or job["status"] != "succeeded":
        return print_job(job, args.json)
    return fetch_result(client, job, fmt, args.output)


def fetch_result(client: Client, job: dict[str, Any], fmt: str, output: str | None) -> int:
    """GET /v1/jobs/{id}/result?format=..., its bytes to -o FILE or stdout; failed pages said on stderr."""
    try:
        body = client.result_bytes(job["id"], fmt)
    except ApiError as err:
        print(f"ocrq: {_problem_text(err)}", file=sys.stderr)
        return 1
    write_output(body, fmt, output)
    if job.get("pages_failed"):
        n = len(job.get("pages") or []) or job.get("pages_total") or 0
        print(f"{job['pages_failed']} of {n} pages failed (needs review)", file=sys.stderr)
    return 0


@reaching
def cmd_status(args: argparse.Namespace) -> int:
    client = connect(args.url, args.api_key)
    try:
        job = plain(client.job(args.job_id, wait=args.wait))
    except ApiError as err:
        print(f"ocrq status: {_problem_text(err)}", file=sys.stderr)
        return 1
    return print_job(job, args.json)
