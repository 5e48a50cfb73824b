"""A TCP proxy on a free loopback port whose faults a test switches at run time.

    with FaultProxy(target_port) as proxy:       # listens on 127.0.0.1:proxy.port
        env["OCRQ_S3_ENDPOINT"] = proxy.address  # point the client under test at the proxy
        proxy.set_mode("refuse")                 # every connection, new and open, is reset
        proxy.set_mode("hang")                   # accepted and read, never answered
        proxy.set_mode("pass")                   # forwarded again

- pass:   bytes go both ways unchanged.
- refuse: open connections are reset (RST, not FIN: the client sees an error at once), and a new
          one is accepted and reset. The listening port stays bound, so no other process can take
          it during the outage.
- hang:   connections are accepted and what clients send is read and dropped; nothing comes
          back, as from a server that froze. Replies from the target are dropped too.

Open connections hang too when the mode turns to hang; going back to pass resets every
connection that lived through a hang (bytes were dropped: its stream is in no state to continue).
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
from typing import Literal, Self

Mode = Literal["pass", "refuse", "hang"]
MODES: tuple[Mode, ...] = ("pass", "refuse", "hang")
_POLL_S = 0.05  # how soon a connection thread notices a mode change or stop()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0) rather than FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class _Conn:
    def __init__(self, client: socket.socket, upstream: socket.socket | None, mode: Mode) -> None:
        self.client = client
        self.upstream = upstream
        self.hung = mode == "hang"  # saw a hang: bytes were dropped, the stream cannot go on
        self.closed = threading.Event()


class FaultProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", mode: Mode = "pass") -> None:
        self.target = (target_host, target_port)
        self._mode: Mode = mode
        self._lock = threading.Lock()
        self._conns: set[_Conn] = set()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.settimeout(_POLL_S)
        self.port: int = self._listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)
        self.connections_accepted = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        with self._lock:
            self._mode = mode
            if mode == "hang":
                for c in self._conns:
                    c.hung = True
            doomed = [c for c in self._conns if mode == "refuse" or (mode == "pass" and c.hung)]
        for conn in doomed:
            self._close(conn, rst=True)

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Self:
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._accept_thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            self._close(conn, rst=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections_accepted += 1
            mode = self._mode
            if mode == "refuse":
                _reset(client)
                continue
            upstream = None
            if mode == "pass":
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _reset(client)  # the target itself is down: the client sees a reset, as without us
                    continue
            conn = _Conn(client, upstream, mode)
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="faultproxy-conn", daemon=True).start()

    def _serve(self, conn: _Conn) -> None:
        sel = selectors.DefaultSelector()
        peers = {conn.client: conn.upstream}
        if conn.upstream is not None:
            peers[conn.upstream] = conn.client
        try:
            for s in peers:
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
            while not (self._stop.is_set() or conn.closed.is_set()):
                for key, _ in sel.select(_POLL_S):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = src.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:  # one side closed: close both, as a plain proxy would
                        return
                    dst = peers[src]
                    if self._mode == "pass" and dst is not None:
                        dst.setblocking(True)
                        dst.sendall(data)
                        dst.setblocking(False)
                    # hang: read and dropped
        except OSError:
            return
        finally:
            sel.close()
            self._close(conn, rst=False)

    def _close(self, conn: _Conn, *, rst: bool) -> None:
        with self._lock:
            if conn.closed.is_set():
                return
            conn.closed.set()
            self._conns.discard(conn)
        for s in (conn.client, conn.upstream):
            if s is None:
                continue
            if rst:
                _reset(s)
            else:
                s.close()
