"""`ocrq reviews export --since T [--tenant T] -o DIR`: training data from resolved reviews.

Writes ``DIR/train.jsonl`` (one record per approved or corrected image job, the sharegpt layout of
shared/reviews/training.py; docs/reviews.md) and ``DIR/images/<job id>.<ext>`` (the images the records name).

Without --tenant it asks the gateway (GET /v1/reviews/export, a key with the admin scope; --url/--api-key,
OCRQ_URL/OCRQ_API_KEY or `ocrq dev`'s file), so the export is the key's tenant's. With --tenant it reads Redis
and the blob store directly, as `ocrq keys` does (an operator on the server; OCRQ_REDIS_URL, OCRQ_STORAGE_URL).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import requests

from shared.api_schemas.common import iso_ms


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("reviews", help="human review: export training data")
    rs = p.add_subparsers(dest="reviews_command", metavar="ACTION")
    rs.required = True
    e = rs.add_parser("export", help="write approved and corrected reviews as JSONL + images (fine-tuning data)")
    e.add_argument("--since", required=True, help="reviews resolved at or after this time (ISO 8601, e.g. 2026-12-01)")
    e.add_argument("--tenant", default=None, help="read this tenant's reviews from Redis and storage directly "
                   "(operator); default: the API key's tenant, through the gateway")
    e.add_argument("-o", "--output", required=True, help="the directory to write (created)")
    e.add_argument("--limit", type=int, default=10000)
    e.add_argument("--url", default=None)
    e.add_argument("--api-key", default=None)
    e.set_defaults(func=cmd_export)


def _since(text: str) -> str:
    t = text.strip()
    return t + "T00:00:00Z" if len(t) == 10 else t


def _write(out: Path, records: list[tuple[dict[str, Any], bytes]]) -> int:
    (out / "images").mkdir(parents=True, exist_ok=True)
    with (out / "train.jsonl").open("w", encoding="utf-8") as f:
        for rec, image in records:
            rec = {k: v for k, v in rec.items() if k != "links"}
            (out / rec["images"][0]).write_bytes(image)
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return len(records)


def _through_gateway(args: argparse.Namespace) -> list[tuple[dict[str, Any], bytes]]:
    from cli.client import resolve

    url, key = resolve(args.url, args.api_key)
    headers = {"Authorization": f"Bearer {key}"}
    resp = requests.get(f"{url}/v1/reviews/export", params={"since": _since(args.since), "limit": args.limit},
                        headers=headers, timeout=120)
    if resp.status_code != 200:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text
        raise SystemExit(f"ocrq reviews export: {resp.status_code}: {detail}")
    out = []
    for rec in resp.json()["records"]:
        img = requests.get(f"{url}/v1/jobs/{rec['ocrq']['job_id']}/image", headers=headers, timeout=120)
        if img.status_code != 200:
            print(f"ocrq reviews export: skipped {rec['ocrq']['job_id']}: its image answered {img.status_code}",
                  file=sys.stderr)
            continue
        out.append((rec, img.content))
    return out


def _from_store(args: argparse.Namespace) -> list[tuple[dict[str, Any], bytes]]:
    from cli.keys_cmd import _redis_url
    from shared.infra.redis_client import connect
    from shared.infra.settings import load_settings
    from shared.infra.storage import open_blob_store
    from shared.jobs.store import JobStore
    from shared.reviews import training
    from shared.reviews.service import result_revision
    from shared.reviews.store import ReviewStore

    settings = load_settings(redis_url=_redis_url()[0])
    client = connect(settings.redis_url)
    store = JobStore(client, settings.retention_s)
    reviews, blobs = ReviewStore(client, store), open_blob_store(settings)
    out = []
    for job in training.resolved_since(reviews, args.tenant, int(iso_ms(_since(args.since))), args.limit):
        engine = json.loads(blobs.get(job.result_key or ""))
        rec = training.record(job, result_revision(blobs, job, engine, None), training.image_name(job))
        out.append((rec, blobs.get(job.input.key, bucket=job.input.bucket)))
    return out


def cmd_export(args: argparse.Namespace) -> int:
    try:
        iso_ms(_since(args.since))
    except ValueError:
        raise SystemExit(f"ocrq reviews export: --since {args.since!r} is not an ISO 8601 time (2026-12-01, "
                         "2026-12-01T08:00:00Z)") from None
    records = _from_store(args) if args.tenant else _through_gateway(args)
    n = _write(Path(args.output), records)
    print(f"wrote {n} records to {Path(args.output) / 'train.jsonl'} and their images to "
          f"{Path(args.output) / 'images'} (reviews resolved since {_since(args.since)})")
    return 0
