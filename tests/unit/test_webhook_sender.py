"""Delivering to a real receiver this test starts on 127.0.0.1, reached only via the allowlist.

Every URL uses the made-up host ``receiver.test``: a fake resolver maps it to 127.0.0.1, so
the requests prove we connect to the pinned IP while sending the URL's Host header.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from shared.webhooks import signing
from shared.webhooks.schedule import (
    DEFAULT_SCHEDULE_S,
    MAX_TOTAL_S,
    next_delay,
    total_attempts,
)
from shared.webhooks.ssrf import Target, check_url
from tests.loopback_http import LoopbackServer
from workers.webhooks.sender import Attempt, classify, deliver, parse_retry_after

HOST = "receiver.test"
LOOPBACK = ["127.0.0.0/8"]
BODY = json.dumps({"type": "job.completed", "data": {"job_id": "j_42"}}).encode()
HANG_LIMIT_S = 5.0  # the hanging handler gives up by itself after this, whatever happens


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    sni: list[str | None] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


def _handler(rx: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            rx.seen.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            route = self.path.split("?")[0]
            if route == "/hang":
                rx.release.wait(HANG_LIMIT_S)
                return self._reply(200)
            if route == "/trickle":
                return self._trickle()
            status, extra = {
                "/ok": (200, {}),
                "/accepted": (204, {}),
                "/fail": (500, {}),
                "/gone": (410, {}),
                "/unauthorized": (401, {}),
                "/redirect": (302, {"Location": f"http://127.0.0.1:{rx.port}/redirect-target"}),
                "/busy": (429, {"Retry-After": "120"}),
                "/busy-date": (503, {"Retry-After": format_datetime(
                    dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600), usegmt=True)}),
                "/busy-garbage": (429, {"Retry-After": "soon"}),
            }.get(route, (404, {}))
            self._reply(status, extra, body=b"x" * 5000 if route == "/fail" else b"")

        def do_GET(self) -> None:  # noqa: N802
            rx.seen.append(Seen("GET", self.path, dict(self.headers.items()), b""))
            self._reply(200)

        def _reply(self, status: int, extra: dict[str, str] | None = None, body: bytes = b"") -> None:
            body = body or f"status {status}".encode()
            try:
                self.send_response(status)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 204:
                    self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout tests): expected

        def _trickle(self) -> None:
            # A status line, then one header byte every 50 ms: each recv succeeds quickly,
            # so only an overall deadline stops the client.
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            self.wfile.flush()
            end = time.monotonic() + HANG_LIMIT_S
            while time.monotonic() < end and not rx.release.is_set():
                try:
                    self.wfile.write(b"a")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.05)

    return Handler


def _serve(rx: Receiver, server_cls: type[ThreadingHTTPServer] = ThreadingHTTPServer) -> Iterator[Receiver]:
    server = LoopbackServer(_handler(rx), server_cls=server_cls)
    rx.port = server.port
    try:
        yield rx
    finally:
        rx.release.set()
        server.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver(port=0))


def _resolver(host: str, port: int) -> list[str]:
    assert host in (HOST, "wrong.test"), f"unexpected lookup of {host}"
    return ["127.0.0.1"]


def target(rx: Receiver, path: str, scheme: str = "http", host: str = HOST) -> Target:
    return check_url(f"{scheme}://{host}:{rx.port}{path}", allow_http=True,
                     allow_cidrs=LOOPBACK, resolver=_resolver)


def send(rx: Receiver, path: str, timeout_s: float = 5.0) -> Attempt:
    hdrs = signing.headers("msg_1", int(time.time()), BODY, [SECRET])
    return deliver(target(rx, path), hdrs, BODY, timeout_s)


SECRET = signing.new_secret()


# --- deliver + classify against a real loopback receiver -----------------------------------


def test_200_delivered_and_signature_verifies(receiver: Receiver) -> None:
    old, new = signing.new_secret(), signing.new_secret()
    hdrs = signing.headers("msg_rot", int(time.time()), BODY, [old, new])
    attempt = deliver(target(receiver, "/ok?tenant=7"), hdrs, BODY, 5.0)
    assert attempt.status_code == 200 and attempt.error is None
    assert attempt.response_excerpt == "status 200"
    assert attempt.latency_ms > 0
    assert classify(attempt) == "delivered"

    (seen,) = receiver.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/ok?tenant=7", BODY)
    assert seen.headers["host"] == f"{HOST}:{receiver.port}"  # pinned IP, URL's host name
    assert seen.headers["content-type"] == "application/json"
    # What arrived verifies with the reference library, under either rotated secret.
    for secret in (old, new):
        assert Webhook(secret).verify(seen.body, seen.headers) == json.loads(BODY)


def test_204_delivered(receiver: Receiver) -> None:
    assert classify(send(receiver, "/accepted")) == "delivered"


def test_500_retry_with_bounded_excerpt(receiver: Receiver) -> None:
    attempt = send(receiver, "/fail")
    assert attempt.status_code == 500 and attempt.error is None
    assert len(attempt.response_excerpt) == 1024
    assert classify(attempt) == "retry"


def test_410_disables(receiver: Receiver) -> None:
    assert classify(send(receiver, "/gone")) == "disable"


def test_other_4xx_retries(receiver: Receiver) -> None:
    assert classify(send(receiver, "/unauthorized")) == "retry"
    assert classify(send(receiver, "/nowhere")) == "retry"  # 404


def test_redirect_not_followed(receiver: Receiver) -> None:
    attempt = send(receiver, "/redirect")
    assert attempt.status_code == 302
    assert attempt.error is not None and "not followed" in attempt.error
    assert classify(attempt) == "retry"
    time.sleep(0.1)  # give a (wrongly) followed request time to show up
    assert receiver.paths() == ["/redirect"]


def test_429_retry_after_seconds(receiver: Receiver) -> None:
    attempt = send(receiver, "/busy")
    assert (attempt.status_code, attempt.retry_after_s) == (429, 120.0)
    assert classify(attempt) == "retry"


def test_503_retry_after_http_date(receiver: Receiver) -> None:
    attempt = send(receiver, "/busy-date")
    assert attempt.status_code == 503
    assert attempt.retry_after_s is not None and 590 <= attempt.retry_after_s <= 600


def test_unparseable_retry_after_ignored(receiver: Receiver) -> None:
    attempt = send(receiver, "/busy-garbage")
    assert (attempt.status_code, attempt.retry_after_s) == (429, None)


def test_hanging_receiver_times_out(receiver: Receiver) -> None:
    started = time.monotonic()
    attempt = send(receiver, "/hang", timeout_s=0.5)
    took = time.monotonic() - started
    assert attempt.status_code is None
    assert attempt.error is not None and "timed out" in attempt.error
    assert 0.4 <= took < 2.0
    assert classify(attempt) == "retry"


def test_trickling_receiver_hits_overall_deadline(receiver: Receiver) -> None:
    started = time.monotonic()
    attempt = send(receiver, "/trickle", timeout_s=0.5)
    assert attempt.status_code is None and "timed out" in (attempt.error or "")
    assert time.monotonic() - started < 2.0


def test_connection_refused_returns_error() -> None:
    with socket.socket() as s:  # find a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = Target(scheme="http", host=HOST, port=port, path="/", ip="127.0.0.1")
    attempt = deliver(t, {}, BODY, 2.0)
    assert attempt.status_code is None and attempt.error == "connection refused"
    assert classify(attempt) == "retry"


def test_caller_cannot_override_framing_headers(receiver: Receiver) -> None:
    hdrs = {"Host": "evil.example", "Content-Length": "1", "X-Extra": "1"}
    assert send_with(receiver, hdrs).status_code == 200
    (seen,) = receiver.seen
    assert seen.headers["host"] == f"{HOST}:{receiver.port}"
    assert seen.headers["content-length"] == str(len(BODY))
    assert seen.headers["x-extra"] == "1"


def send_with(rx: Receiver, hdrs: dict[str, str]) -> Attempt:
    return deliver(target(rx, "/ok"), hdrs, BODY, 5.0)


# --- https: pinned IP, SNI and certificate checked against the URL's host --------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("ocrq test CA")).issuer_name(name("ocrq test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder().subject_name(name(HOST)).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, cert_pem, key_pem = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


@pytest.fixture
def tls_receiver(tls_files: tuple[Path, Path, Path]) -> Iterator[Receiver]:
    _, cert_pem, key_pem = tls_files
    rx = Receiver(port=0)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_pem, key_pem)
    context.sni_callback = lambda sock, server_name, ctx: rx.sni.append(server_name)

    class TLSServer(ThreadingHTTPServer):
        def finish_request(self, request: socket.socket, client_address: object) -> None:
            try:
                request.settimeout(5)
                tls = context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # a client that rejected our certificate: nothing to serve
            super().finish_request(tls, client_address)

    yield from _serve(rx, TLSServer)


def test_https_pins_ip_and_verifies_hostname(tls_receiver: Receiver, tls_files: tuple[Path, Path, Path]) -> None:
    ca_pem = str(tls_files[0])
    hdrs = signing.headers("msg_tls", int(time.time()), BODY, [SECRET])
    attempt = deliver(target(tls_receiver, "/ok", scheme="https"), hdrs, BODY, 5.0, ca_file=ca_pem)
    assert (attempt.status_code, attempt.error) == (200, None)
    assert tls_receiver.sni == [HOST]
    (seen,) = tls_receiver.seen
    assert seen.headers["host"] == f"{HOST}:{tls_receiver.port}"
    Webhook(SECRET).verify(seen.body, seen.headers)


def test_https_wrong_hostname_rejected(tls_receiver: Receiver, tls_files: tuple[Path, Path, Path]) -> None:
    t = target(tls_receiver, "/ok", scheme="https", host="wrong.test")
    attempt = deliver(t, {}, BODY, 5.0, ca_file=str(tls_files[0]))
    assert attempt.status_code is None and "certificate" in (attempt.error or "")
    assert classify(attempt) == "retry"
    assert tls_receiver.seen == []


def test_https_untrusted_ca_rejected(tls_receiver: Receiver) -> None:
    attempt = deliver(target(tls_receiver, "/ok", scheme="https"), {}, BODY, 5.0)
    assert attempt.status_code is None and "certificate" in (attempt.error or "")
    assert tls_receiver.seen == []


# --- pure helpers -----------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 30 ") == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0  # past: now
    for bad in (None, "", "-5", "1.5", "soon"):
        assert parse_retry_after(bad, now=now) is None


@pytest.mark.parametrize(
    ("code", "outcome"),
    [(200, "delivered"), (201, "delivered"), (299, "delivered"), (301, "retry"), (304, "retry"),
     (400, "retry"), (404, "retry"), (409, "retry"), (410, "disable"), (429, "retry"),
     (500, "retry"), (503, "retry"), (None, "retry")],
)
def test_classify_table(code: int | None, outcome: str) -> None:
    assert classify(Attempt(code, 1.0, None if code else "timed out", None, "")) == outcome


# --- schedule -----------------------------------------------------------------------------------


class FixedRng:
    def __init__(self, value: float) -> None:
        self.value = value

    def uniform(self, a: float, b: float) -> float:
        return max(a, min(b, self.value))


def test_default_schedule_shape() -> None:
    assert DEFAULT_SCHEDULE_S[:7] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert [next_delay(n, DEFAULT_SCHEDULE_S, None, FixedRng(0)) for n in (1, 2, 3)] == [5, 300, 1800]
    # Jitter-free, the 3-day window allows the first attempt plus 11 retries.
    assert total_attempts(DEFAULT_SCHEDULE_S) == 12
    assert next_delay(12, DEFAULT_SCHEDULE_S, None, FixedRng(0)) is None
    assert next_delay(13, DEFAULT_SCHEDULE_S, None, FixedRng(0)) is None


def test_settings_schedule_parses_into_the_same_list() -> None:
    from shared.infra.settings import load_settings

    assert load_settings().webhook_schedule[:7] == DEFAULT_SCHEDULE_S[:7]


def test_jitter_bounds() -> None:
    rng = random.Random(7)
    delays = [next_delay(2, DEFAULT_SCHEDULE_S, None, rng) for _ in range(500)]
    assert all(d is not None and 240 <= d <= 360 for d in delays)
    assert max(delays) - min(delays) > 60  # jitter actually varies
    assert next_delay(2, DEFAULT_SCHEDULE_S, None, FixedRng(1)) == pytest.approx(360)
    assert next_delay(2, DEFAULT_SCHEDULE_S, None, FixedRng(-1)) == pytest.approx(240)


def test_retry_after_honoured_only_when_longer() -> None:
    assert next_delay(1, DEFAULT_SCHEDULE_S, 120, FixedRng(0)) == 120
    assert next_delay(3, DEFAULT_SCHEDULE_S, 120, FixedRng(0)) == 1800
    assert next_delay(1, DEFAULT_SCHEDULE_S, 0, FixedRng(0)) == 5


def test_window_bounds_total_time() -> None:
    assert next_delay(2, DEFAULT_SCHEDULE_S, None, FixedRng(0), elapsed_s=MAX_TOTAL_S - 100) is None
    assert next_delay(2, DEFAULT_SCHEDULE_S, None, FixedRng(0), elapsed_s=MAX_TOTAL_S - 400) == 300
    # A Retry-After beyond the window ends retries rather than parking the event for a week.
    assert next_delay(1, DEFAULT_SCHEDULE_S, 7 * 24 * 3600, FixedRng(0)) is None


def test_custom_schedule_and_bad_input() -> None:
    assert next_delay(1, [1.5], None, FixedRng(0)) == 1.5
    assert next_delay(2, [1.5], None, FixedRng(0)) is None
    assert next_delay(1, [], None, FixedRng(0)) is None
    with pytest.raises(ValueError):
        next_delay(0, [1.0], None, FixedRng(0))
