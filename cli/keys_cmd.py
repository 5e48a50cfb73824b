"""`ocrq keys create|list|revoke`: API keys (stored hashed in Redis; the clear key is printed once)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from shared.apikeys import KeyStore
from shared.redis_client import connect
from shared.settings import load_settings


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("keys", help="manage API keys")
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION")
    ks.required = True
    c = ks.add_parser("create", help="create a key for a tenant and print it once")
    c.add_argument("--tenant", required=True)
    c.add_argument("--name", default="")
    c.add_argument("--allow-bucket", action="append", default=[], help="a bucket the tenant may reference (repeatable)")
    c.set_defaults(func=cmd_create)
    ls = ks.add_parser("list", help="list keys (never their secret)")
    ls.set_defaults(func=cmd_list)
    r = ks.add_parser("revoke", help="revoke a key by its id")
    r.add_argument("key_id")
    r.set_defaults(func=cmd_revoke)


def _store() -> KeyStore:
    return KeyStore(connect(load_settings().redis_url))


def cmd_create(args: argparse.Namespace) -> int:
    store = _store()
    try:
        clear, key = store.create(args.tenant, args.name)
    except ValueError as err:
        print(f"ocrq keys: {err}", file=sys.stderr)
        return 2
    for bucket in args.allow_bucket:
        store.allow_bucket(args.tenant, bucket)
    print(f"id:     {key.id}\ntenant: {key.tenant}\nkey:    {clear}\n(store the key now: it is not shown again)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    print(f"{'ID':<22} {'TENANT':<20} {'NAME':<20} {'CREATED (UTC)':<20} STATE")
    for k in _store().list():
        created = datetime.fromtimestamp(k.created_at / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{k.id:<22} {k.tenant:<20} {k.name:<20} {created:<20} {'revoked' if k.revoked else 'active'}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    if not _store().revoke(args.key_id):
        print(f"ocrq keys: no key {args.key_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.key_id}")
    return 0
