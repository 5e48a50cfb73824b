"""One webhook delivery attempt over HTTP(S) to a pinned, already-checked address.

``deliver`` never resolves DNS: it connects to ``Target.ip`` (chosen by the SSRF guard)
and sends ``Target.host`` as the Host header and, for https, as SNI and the name the
certificate must match. A second lookup here would reopen the DNS-rebinding hole.

Redirects are never followed: a 3xx could point anywhere, including at internal hosts the
guard would refuse, so it counts as a failed attempt and the receiver has to fix its URL.

``deliver`` never raises for network trouble; it returns an ``Attempt`` describing what
happened so the caller can log it and ask ``classify`` what to do next.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

from shared.webhooks.ssrf import Target

DEFAULT_TIMEOUT_S = 15.0
EXCERPT_BYTES = 1024  # enough to show a receiver's error message in the delivery log
USER_AGENT = "ocrq-webhooks/1"

Outcome = Literal["delivered", "retry", "disable"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST did. ``status_code`` is None when no HTTP response arrived."""

    status_code: int | None
    latency_ms: float
    error: str | None  # network/TLS/timeout failure, or why a 3xx was not followed
    retry_after_s: float | None  # from Retry-After on 429/503, seconds from now
    response_excerpt: str  # first EXCERPT_BYTES of the body, decoded leniently


def classify(attempt: Attempt) -> Outcome:
    """Decide what a delivery attempt means for the endpoint.

    * 2xx: delivered.
    * 410 Gone: the receiver says the endpoint is permanently gone, so disable it.
    * Everything else retries, including 3xx (not followed), timeouts, connection errors
      and 4xx other than 410. Like Svix we retry 4xx: a 401/404 is most often a receiver
      misconfiguration or deploy in progress that gets fixed within the retry window, and
      giving up early loses the event for good. The schedule bounds the cost.
    """
    code = attempt.status_code
    if code is None:
        return "retry"
    if 200 <= code < 300:
        return "delivered"
    if code == 410:
        return "disable"
    return "retry"


def deliver(
    target: Target,
    headers: Mapping[str, str],
    body: bytes,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    ca_file: str | None = None,
) -> Attempt:
    """POST ``body`` to ``target`` and report what happened; never raises for I/O errors.

    ``timeout_s`` bounds the whole attempt (connect, TLS, sending, response headers and
    the excerpt), not each socket operation, so a receiver that trickles bytes cannot hold
    a worker longer than that. ``ca_file`` replaces the default trust store (private CAs).
    """
    started = time.monotonic()
    deadline = started + timeout_s
    guard = _Deadline(deadline)
    conn: _PinnedConnection | None = None

    def elapsed_ms() -> float:
        return (time.monotonic() - started) * 1000.0

    try:
        sock = _connect(target, guard, ca_file)
        conn = _PinnedConnection(target, sock)
        conn.request("POST", target.path, body=body, headers=_request_headers(target, headers))
        response = conn.getresponse()
        latency = elapsed_ms()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", errors="replace")
        if guard.expired.is_set():
            # The shutdown can look like a clean end of headers or body to http.client;
            # a response cut off by our deadline must never count as delivered.
            raise TimeoutError("deadline passed while reading the response")
        return _attempt_from_response(response, latency, excerpt)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if guard.expired.is_set() or isinstance(exc, TimeoutError):
            error = f"timed out after {timeout_s:g} s"
        else:
            error = _describe(exc)
        return Attempt(None, elapsed_ms(), error, None, "")
    finally:
        guard.cancel()
        if conn is not None:
            conn.close()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait per a Retry-After header (delta-seconds or HTTP-date), or None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a naive result means "-0000"
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


class _Deadline:
    """Shuts the attempt's connection down when the overall deadline passes.

    Per-operation socket timeouts cannot bound a receiver that trickles one byte at a time
    (during the TLS handshake, the headers or the body); shutting the connection down fails
    whichever blocking call is in progress, wherever it is.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = threading.Event()
        self._sock: socket.socket | None = None
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            # A dup of the descriptor, not the object: wrap_socket detaches the plain socket
            # it wraps, and shutdown() on any descriptor stops the shared connection.
            self._sock = sock.dup()
        if self.expired.is_set():
            self._expire()  # the deadline fell between connect and watch

    def cancel(self) -> None:
        """Stop the watchdog; once this returns it will not touch the connection."""
        self._timer.cancel()
        with self._lock:
            self._done = True
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _expire(self) -> None:
        self.expired.set()
        with self._lock:
            if self._done or self._sock is None:
                return
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the peer already closed: nothing left to interrupt


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTPConnection over a socket we already opened (to the pinned IP, TLS done)."""

    def __init__(self, target: Target, sock: socket.socket) -> None:
        # The host given here is never used: we always send our own Host header, and
        # http.client would misparse an unbracketed IPv6 host as host:port.
        super().__init__("pinned.invalid", target.port)
        self.sock = sock

    def connect(self) -> None:
        # http.client reconnects when sock is None; that must never resolve the host name.
        raise http.client.NotConnected("pinned connection is closed")


def _connect(target: Target, guard: _Deadline, ca_file: str | None) -> socket.socket:
    sock = socket.create_connection((target.ip, target.port), timeout=guard.remaining())
    try:
        guard.watch(sock)
        if target.scheme != "https":
            return sock
        # server_hostname gives SNI and makes check_hostname verify the certificate against
        # the URL's host, not the IP we connected to.
        return _tls_context(ca_file).wrap_socket(sock, server_hostname=target.host)
    except BaseException:
        sock.close()
        raise


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file or _default_ca_file())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _default_ca_file() -> str | None:
    # Prefer certifi (what requests uses) so containers without system CAs still verify.
    try:
        import certifi
    except ImportError:
        return None
    return certifi.where()


def _request_headers(target: Target, headers: Mapping[str, str]) -> dict[str, str]:
    out = {"Host": target.host_header, "User-Agent": USER_AGENT}
    for key, value in headers.items():
        if key.lower() in ("host", "content-length", "transfer-encoding", "connection"):
            continue  # framing and routing headers are ours to set, not the caller's
        out[key] = value
    out["Connection"] = "close"
    return out


def _attempt_from_response(response: http.client.HTTPResponse, latency_ms: float, excerpt: str) -> Attempt:
    code = response.status
    error: str | None = None
    if 300 <= code < 400:
        location = response.getheader("Location") or "(none)"
        error = f"redirect {code} to {location[:200]} not followed"
    retry_after = parse_retry_after(response.getheader("Retry-After")) if code in (429, 503) else None
    return Attempt(code, latency_ms, error, retry_after, excerpt)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {exc.verify_message or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by receiver"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "receiver closed the connection without a response"
    return f"{type(exc).__name__}: {exc}"[:300]
