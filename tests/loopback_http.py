"""A threaded HTTP server on loopback, for the stand-ins tests and benches start themselves (a WMS
receiver, an OTLP collector, an API answering from a script): one way to start one and stop it."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """Serves `handler` on `host` (127.0.0.1 unless a test names another loopback address) from a
    daemon thread until `close()`. Port 0 takes a free one; `server_cls` lets a test wrap the
    socket (TLS)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, host: str = "127.0.0.1",
                 server_cls: type[ThreadingHTTPServer] = ThreadingHTTPServer) -> None:
        self.server = server_cls((host, port), handler)
        # A client that holds a connection open must not keep the test process alive at exit.
        self.server.daemon_threads = True
        self.host = host
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
