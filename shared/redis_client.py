"""One way to open Redis: from the configured URL, with timeouts so a dead server fails fast.

Two URL forms (OCRQ_REDIS_URL):

- ``redis://[:PASSWORD@]HOST:PORT/DB`` (also ``rediss://``, ``unix://``): one server.
- ``redis+sentinel://[[USER]:PASSWORD@]H1:26379,H2:26379,H3:26379/MASTER_NAME[/DB][?sentinel_password=P]``:
  the Sentinels of a primary/replica group. The client asks them where the primary is, and asks
  again after a connection error, so every component that opens Redis with `connect()` follows a
  failover without a restart. USER/PASSWORD are the data nodes' credentials; the Sentinels' own
  (``requirepass`` in sentinel.conf) go in ``sentinel_password`` (default: none). Port defaults
  to 26379, DB to 0.

Celery speaks Sentinel through kombu's own ``sentinel://`` transport: `celery_sentinel_settings()`
turns the same URL into its broker settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
# Where the replication probe of wait_for_replicas() writes (a counter, a few bytes).
PROBE_KEY = "ocrq:replication:probe"

# Data connections: above the longest long-poll (wait_max_s, 30 s by default), below "hung forever".
_SOCKET_TIMEOUT_S = 40.0
_CONNECT_TIMEOUT_S = 5.0
# A Sentinel answers from memory: a silent one is dead, so ask the next one quickly.
_SENTINEL_TIMEOUT_S = 1.0


class RedisURLError(ValueError):
    """A Redis URL that cannot be used; the message is one line naming what is wrong."""


class ReplicationTimeout(Exception):
    """Fewer replicas than asked confirmed a write within the timeout (the gateway answers 503)."""

    def __init__(self, acked: int, wanted: int, timeout_ms: int) -> None:
        super().__init__(f"{acked} of {wanted} Redis replicas confirmed the write within {timeout_ms} ms")
        self.acked = acked
        self.wanted = wanted
        self.timeout_ms = timeout_ms


@dataclass(frozen=True)
class SentinelURL:
    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def is_sentinel_url(url: str) -> bool:
    return url.split(":", 1)[0].lower() == SENTINEL_SCHEME


def parse_sentinel_url(url: str) -> SentinelURL:
    """Parse ``redis+sentinel://...``; raise RedisURLError (one line, no password in it) when malformed."""
    parts = urlsplit(url)
    if parts.scheme.lower() != SENTINEL_SCHEME:
        raise RedisURLError(f"not a {SENTINEL_SCHEME}:// URL")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username = password = None
    if userinfo:
        user, sep, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if sep else None
    sentinels: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        item = item.strip()
        if not item:
            continue
        if item.startswith("["):  # [::1]:26379
            host, _, rest = item[1:].partition("]")
            port_text = rest.removeprefix(":")
        else:
            host, _, port_text = item.partition(":")
        if not host:
            raise RedisURLError(f"{SENTINEL_SCHEME} URL: empty host in the Sentinel list")
        try:
            port = int(port_text) if port_text else DEFAULT_SENTINEL_PORT
        except ValueError:
            raise RedisURLError(f"{SENTINEL_SCHEME} URL: bad port {port_text!r} for {host}") from None
        if not 0 < port < 65536:
            raise RedisURLError(f"{SENTINEL_SCHEME} URL: port {port} out of range for {host}")
        sentinels.append((host, port))
    if not sentinels:
        raise RedisURLError(f"{SENTINEL_SCHEME} URL names no Sentinel (host1:26379,host2:26379)")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise RedisURLError(f"{SENTINEL_SCHEME} URL: the path must be /MASTER_NAME or /MASTER_NAME/DB")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise RedisURLError(f"{SENTINEL_SCHEME} URL: database {path[1]!r} is not a number")
        db = int(path[1])
    query = parse_qs(parts.query)
    unknown = set(query) - {"sentinel_password"}
    if unknown:
        raise RedisURLError(f"{SENTINEL_SCHEME} URL: unknown option {min(unknown)!r}")
    sentinel_password = query.get("sentinel_password", [None])[-1]
    return SentinelURL(tuple(sentinels), unquote(path[0]), db, username, password, sentinel_password)


def _sentinel_kwargs(cfg: SentinelURL) -> dict[str, Any]:
    kw: dict[str, Any] = {"socket_timeout": _SENTINEL_TIMEOUT_S, "socket_connect_timeout": _SENTINEL_TIMEOUT_S}
    if cfg.sentinel_password:
        kw["password"] = cfg.sentinel_password
    return kw


def connect(url: str, name: str | None = None) -> redis.Redis:
    """`name` shows in CLIENT LIST, so an operator (or bench/gateway.py) can tell who sends what."""
    common: dict[str, Any] = {
        "client_name": name,
        "socket_connect_timeout": _CONNECT_TIMEOUT_S,
        "socket_timeout": _SOCKET_TIMEOUT_S,
        "health_check_interval": 30,
        "retry_on_timeout": False,
    }
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, **common)
    cfg = parse_sentinel_url(url)
    sentinel = Sentinel(list(cfg.sentinels), sentinel_kwargs=_sentinel_kwargs(cfg))
    # check_connection: a new connection PINGs first, so one to a node that is no longer the
    # primary (or is gone) fails there and the pool asks the Sentinels again.
    return sentinel.master_for(
        cfg.master_name, db=cfg.db, username=cfg.username, password=cfg.password, check_connection=True, **common
    )


def celery_sentinel_settings(url: str, *, result_backend: bool = False) -> dict[str, Any]:
    """Celery settings for a ``redis+sentinel://`` URL, to merge into the app's configuration.

    Returns ``broker_url`` (kombu's form, ``sentinel://[:PW@]h1:26379;sentinel://[:PW@]h2:26379/DB``)
    and ``broker_transport_options`` (``master_name``, ``sentinel_kwargs``). Merge the transport
    options over the Redis ones ocrq already sets (visibility_timeout, queue_order_strategy): kombu's
    Sentinel channel is its Redis channel, so those keep their meaning. With ``result_backend=True``
    the same pair comes for the result backend (``result_backend``,
    ``result_backend_transport_options``); ocrq keeps no Celery results today.
    """
    cfg = parse_sentinel_url(url)
    auth = ""
    if cfg.password is not None or cfg.username:
        auth = f"{quote(cfg.username or '', safe='')}:{quote(cfg.password or '', safe='')}@"
    hosts = [f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in cfg.sentinels]
    # kombu reads credentials and the database from the first URL only; repeat them anyway so
    # that any one entry is a complete address.
    broker = ";".join(f"sentinel://{auth}{h}/{cfg.db}" for h in hosts)
    options: dict[str, Any] = {"master_name": cfg.master_name, "sentinel_kwargs": _sentinel_kwargs(cfg)}
    out: dict[str, Any] = {"broker_url": broker, "broker_transport_options": options}
    if result_backend:
        out["result_backend"] = broker
        out["result_backend_transport_options"] = dict(options)
    return out


def wait_for_replicas(client: redis.Redis, n: int, timeout_ms: int) -> int:
    """Block until at least `n` replicas hold every write this client's pool completed before the
    call; return how many did. Raise ReplicationTimeout when fewer confirm within `timeout_ms`.

    Redis WAIT counts the writes of the connection it runs on, and a pool hands out any of its
    connections, so WAIT alone could confirm nothing. Instead a probe write and WAIT go down one
    connection together: the replication stream is ordered, so a replica that has the probe has
    every write that completed before it, on any connection. `n <= 0` returns 0 at once.

    This is asynchronous replication made to wait, not consensus: a write confirmed here survives
    the loss of the primary; one acknowledged by the primary and lost with it before the
    replicas got it was never confirmed (the caller answered 503).
    """
    if n <= 0:
        return 0
    timeout_ms = max(1, timeout_ms)  # WAIT 0 would block for ever
    pipe = client.pipeline(transaction=False)
    pipe.incr(PROBE_KEY)
    pipe.execute_command("WAIT", n, timeout_ms)
    _, acked = pipe.execute()
    acked = int(acked)
    if acked < n:
        raise ReplicationTimeout(acked, n, timeout_ms)
    return acked
