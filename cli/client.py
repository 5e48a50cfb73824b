"""`ocrq submit` and `ocrq status`: a small HTTP client of the gateway.

Where to connect comes from --url / OCRQ_URL and OCRQ_API_KEY, else from the file `ocrq dev`
writes: OCRQ_CLIENT_CONFIG when set, else the nearest `var/client.json` from the working directory
up (the dev instance of this checkout: its data dir), else ~/.config/ocrq/client.json (the last
`ocrq dev` started anywhere). Two checkouts each running `ocrq dev` so keep their own keys.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from cli.ocr_cmd import add_task_args
from cli.output import add_output_args, output_format, refuses_binary_to_terminal, result_text, write_output

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


def _problem_text(resp: requests.Response) -> str:
    try:
        body = resp.json()
        text = f"{resp.status_code} {body.get('title', '')}: {body.get('detail', '')}"
    except ValueError:
        text = f"{resp.status_code} {resp.reason}"
    if resp.status_code == 401:  # in the CLI's words, not HTTP's
        text += f" (the API key was refused; {NO_KEY.removeprefix('no API key: ')})"
    return text


def _request(method: str, url: str, key: str, *, attempts: int = 4, **kw: Any) -> requests.Response:
    """Retry connection failures and 429/503 a few times: the Idempotency-Key makes resubmits safe."""
    last: Exception | None = None
    for i in range(attempts):
        try:
            resp = requests.request(
                method, url, headers={"Authorization": f"Bearer {key}", **kw.pop("headers", {})}, timeout=60, **kw
            )
        except requests.ConnectionError as err:
            last = err
            time.sleep(min(2**i * 0.5, 5))
            continue
        if resp.status_code in (429, 503) and i < attempts - 1:
            time.sleep(min(float(resp.headers.get("Retry-After", "1") or 1), 10))
            continue
        return resp
    raise SystemExit(f"ocrq: cannot reach {url}: {last}")


def wait_for(url: str, key: str, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        wait = max(0, min(20, int(left)))
        resp = _request("GET", f"{url}/v1/jobs/{job_id}", key, params={"wait": wait})
        if resp.status_code != 200:
            raise SystemExit(f"ocrq: {_problem_text(resp)}")
        job: dict[str, Any] = resp.json()
        if job["status"] in FINAL or left <= 0:
            return job


def print_job(job: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(job, indent=2, ensure_ascii=False))
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


def cmd_submit(args: argparse.Namespace) -> int:
    url, key = resolve(args.url, args.api_key)
    path = Path(args.file)
    if not path.is_file():
        print(f"ocrq submit: no such file: {path}", file=sys.stderr)
        return 2
    fmt = output_format(args)
    if refuses_binary_to_terminal(fmt, args.output, "ocrq submit"):
        return 2
    form: dict[str, str] = {"task": args.task, "priority": args.priority}
    for name in ("fields", "target_lang", "instruction", "metadata", "webhook_url", "barcodes", "quality", "pages"):
        if getattr(args, name):
            form[name] = getattr(args, name)
    data = path.read_bytes()
    resp = _request(
        "POST",
        f"{url}/v1/jobs",
        key,
        data=form,
        files={"file": (path.name, data, "application/octet-stream")},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    if resp.status_code not in (200, 202):
        print(f"ocrq submit: {_problem_text(resp)}", file=sys.stderr)
        return 1
    job = resp.json()
    if job.get("quality") and not args.json:
        q = job["quality"]
        print(f"quality: {q['verdict']}" + (f" ({', '.join(q['reasons'])})" if q["reasons"] else ""), file=sys.stderr)
    if not args.wait and fmt is None:
        print(json.dumps(job, indent=2) if args.json else job["id"])
        return 0
    job = wait_for(url, key, job["id"], args.timeout)
    if job["status"] not in FINAL:
        print(f"ocrq submit: job {job['id']} still {job['status']} after {args.timeout:.0f} s", file=sys.stderr)
        return 1
    if fmt is None or job["status"] != "succeeded":
        return print_job(job, args.json)
    return fetch_result(url, key, job, fmt, args.output)


def fetch_result(url: str, key: str, job: dict[str, Any], fmt: str, output: str | None) -> int:
    """GET /v1/jobs/{id}/result?format=..., its bytes to -o FILE or stdout; failed pages said on stderr."""
    resp = _request("GET", f"{url}/v1/jobs/{job['id']}/result", key, params={"format": fmt})
    if resp.status_code != 200:
        print(f"ocrq: {_problem_text(resp)}", file=sys.stderr)
        return 1
    write_output(resp.content, fmt, output)
    if job.get("pages_failed"):
        n = len(job.get("pages") or []) or job.get("pages_total") or 0
        print(f"{job['pages_failed']} of {n} pages failed (needs review)", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    url, key = resolve(args.url, args.api_key)
    resp = _request("GET", f"{url}/v1/jobs/{args.job_id}", key, params={"wait": args.wait} if args.wait else {})
    if resp.status_code != 200:
        print(f"ocrq status: {_problem_text(resp)}", file=sys.stderr)
        return 1
    return print_job(resp.json(), args.json)
