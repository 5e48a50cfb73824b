"""`ocrq keys create|list|revoke`: API keys (stored hashed in Redis; the clear key is printed once)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from cli.client import config_path, read_client_config
from shared.infra.redis_client import connect
from shared.infra.settings import load_settings
from shared.tenants import SCOPES, KeyStore


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("keys", help="manage API keys")
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION")
    ks.required = True
    c = ks.add_parser("create", help="create a key for a tenant and print it once")
    c.add_argument("--tenant", required=True)
    c.add_argument("--name", default="")
    c.add_argument("--allow-bucket", action="append", default=[], help="a bucket the tenant may reference (repeatable)")
    c.add_argument("--scope", action="append", choices=SCOPES, default=None,
                   help="what the key may do (repeatable): submit (jobs, batches), review (the review queue), "
                   "admin (webhooks, review settings, training export); default: all three")
    c.set_defaults(func=cmd_create)
    ls = ks.add_parser("list", help="list keys (never their secret)")
    ls.set_defaults(func=cmd_list)
    r = ks.add_parser("revoke", help="revoke a key by its id")
    r.add_argument("key_id")
    r.set_defaults(func=cmd_revoke)


class RedisUnavailable(Exception):
    """One line: which Redis did not answer, and where its URL came from."""


def _redis_url() -> tuple[str, str]:
    """(URL, where it came from): OCRQ_REDIS_URL when set, else the running `ocrq dev` instance's
    (saved in the client config when it started), else the settings' default."""
    if os.environ.get("OCRQ_REDIS_URL"):
        return load_settings().redis_url, "OCRQ_REDIS_URL"
    saved = read_client_config().get("redis_url")
    if saved:
        return load_settings(redis_url=saved).redis_url, f"the ocrq dev instance saved in {config_path()}"
    return load_settings().redis_url, "the default; set OCRQ_REDIS_URL"


def _store() -> KeyStore:
    url, origin = _redis_url()
    client = connect(url)
    try:
        client.ping()
    except redis.RedisError as err:
        hint = "; is `ocrq dev` running?" if origin.startswith("the ocrq dev") else ""
        raise RedisUnavailable(f"Redis at {url} ({origin}) does not answer: {err}{hint}") from None
    return KeyStore(client)


def _one_line_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except RedisUnavailable as err:
            print(f"ocrq keys: {err}", file=sys.stderr)
            return 1
        except redis.RedisError as err:
            print(f"ocrq keys: Redis error: {err}", file=sys.stderr)
            return 1

    return run


@_one_line_errors
def cmd_create(args: argparse.Namespace) -> int:
    store = _store()
    try:
        clear, key = store.create(args.tenant, args.name, scopes=args.scope)
    except ValueError as err:
        print(f"ocrq keys: {err}", file=sys.stderr)
        return 2
    for bucket in args.allow_bucket:
        store.allow_bucket(args.tenant, bucket)
    print(f"id:     {key.id}\ntenant: {key.tenant}\nscopes: {' '.join(key.scopes)}\nkey:    {clear}\n"
          "(store the key now: it is not shown again)")
    return 0


@_one_line_errors
def cmd_list(args: argparse.Namespace) -> int:
    print(f"{'ID':<22} {'TENANT':<20} {'NAME':<20} {'CREATED (UTC)':<20} {'SCOPES':<20} STATE")
    for k in _store().list():
        created = datetime.fromtimestamp(k.created_at / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        scopes, state = ",".join(k.scopes), "revoked" if k.revoked else "active"
        print(f"{k.id:<22} {k.tenant:<20} {k.name:<20} {created:<20} {scopes:<20} {state}")
    return 0


@_one_line_errors
def cmd_revoke(args: argparse.Namespace) -> int:
    if not _store().revoke(args.key_id):
        print(f"ocrq keys: no key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0
