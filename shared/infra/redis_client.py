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

import threading
import time
from dataclasses import dataclass
from typing import Any, overload
from urllib.parse import parse_qs, quote, unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379
# Where the replication probe of wait_for_replicas() writes (a counter, a few bytes).
PROBE_KEY = "ocrq:replication:probe"

# A replica counts as one Sentinel could promote while the primary streams to it ("online") and it
# acknowledged within this many seconds (a replica sends REPLCONF ACK every second).
REPLICA_LIVE_LAG_S = 3
# How long the gateway trusts its count of live replicas before asking the primary again.
REPLICA_COUNT_TTL_S = 1.0

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


def live_replicas(client: redis.Redis) -> int:
    """Replicas of the primary `client` talks to that Sentinel could promote: streaming from it
    (``state=online`` in INFO replication) and acknowledging (``lag`` <= REPLICA_LIVE_LAG_S)."""
    info = client.info("replication")
    n = 0
    for k, v in info.items():
        if not (k.startswith("slave") and k[5:].isdigit() and isinstance(v, dict)):
            continue
        if v.get("state") == "online" and int(v.get("lag", 0)) <= REPLICA_LIVE_LAG_S:
            n += 1
    return n


class ReplicaWaiter:
    """WAIT for every live replica of the primary, never fewer than `floor` (OCRQ_REDIS_MIN_REPLICAS).

    ``WAIT n`` says that *some* n replicas hold a write, and Sentinel promotes whichever replica it
    judges freshest from INFO it polled up to a second earlier: with two replicas and ``WAIT 1`` it
    can promote the one without the write, and the write is gone. Waiting for all of them, whichever
    is promoted has it. After a failover the new primary has one replica fewer; the count follows
    (it is read from the primary's INFO replication, cached REPLICA_COUNT_TTL_S and read again
    whenever a WAIT falls short), so the floor alone decides whether submits keep working.

    `floor` <= 0 waits for nothing (no INFO, no WAIT): the asynchronous default.
    """

    def __init__(self, client: redis.Redis, floor: int, timeout_ms: int, *,
                 ttl_s: float = REPLICA_COUNT_TTL_S) -> None:
        self.client = client
        self.floor = floor
        self.timeout_ms = timeout_ms
        self.ttl_s = ttl_s
        self._count: tuple[float, int] | None = None  # (monotonic time read, live replicas)
        self._lock = threading.Lock()

    def wanted(self, *, refresh: bool = False) -> int:
        """How many replicas a write must reach now: max(floor, live replicas)."""
        cached = self._count
        now = time.monotonic()
        if refresh or cached is None or now - cached[0] > self.ttl_s:
            with self._lock:  # one INFO per expiry, however many threads submit
                cached = self._count
                if refresh or cached is None or time.monotonic() - cached[0] > self.ttl_s:
                    cached = (time.monotonic(), live_replicas(self.client))
                    self._count = cached
        return max(self.floor, cached[1])

    def wait(self) -> int:
        """Return how many replicas confirmed; raise ReplicationTimeout when fewer than wanted() did."""
        if self.floor <= 0:
            return 0
        want = self.wanted()
        try:
            return wait_for_replicas(self.client, want, self.timeout_ms)
        except ReplicationTimeout as err:
            # A replica may have left (died, or it is the one just promoted): count again, and the
            # write is confirmed if every replica that is still live has it.
            now_want = self.wanted(refresh=True)
            if err.acked >= now_want:
                return err.acked
            raise ReplicationTimeout(err.acked, now_want, err.timeout_ms) from None


@overload
def as_str(value: None) -> None: ...
@overload
def as_str(value: Any) -> str: ...
def as_str(value: Any) -> str | None:
    """A Redis reply as text (clients here do not set decode_responses); None stays None."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
