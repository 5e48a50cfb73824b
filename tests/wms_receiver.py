"""A loopback HTTP server standing in for the WMS: verifies every delivery with the `standardwebhooks`
library from PyPI (not our code) and answers each path's planned status codes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.loopback_http import LoopbackServer


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int


@dataclass
class Receiver:
    """A loopback HTTP server. ``plans[path]`` lists the status of each successive request
    (the last one repeats); ``secrets[path]`` is what it verifies signatures with."""

    port: int = 0
    plans: dict[str, list[int]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: LoopbackServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                with rx.lock:
                    rx.inflight += 1
                try:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    hdrs = {k.lower(): v for k, v in self.headers.items()}
                    if rx.delay_s:
                        time.sleep(min(rx.delay_s, 5.0))
                    verified = False
                    secret = rx.secrets.get(self.path)
                    if secret:
                        try:
                            Webhook(secret).verify(body, hdrs)
                            verified = True
                        except WebhookVerificationError:
                            verified = False
                    with rx.lock:
                        n = sum(1 for s in rx.seen if s.path == self.path)
                        plan = rx.plans.get(self.path, [200])
                        status = plan[min(n, len(plan) - 1)] if verified or not secret else 401
                        rx.seen.append(Seen(self.path, hdrs, body, verified, status))
                    extra = {"Location": rx.url("/redirect-target")} if status in (301, 302, 307, 308) else {}
                    self.send_response(status)
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                finally:
                    with rx.lock:
                        rx.inflight -= 1

        self.server = LoopbackServer(Handler, self.port)
        self.port = self.server.port
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def of(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path]

    def accepted(self, path: str | None = None) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.verified and 200 <= s.status < 300 and (path is None or s.path == path)]
