"""The fault proxy in front of a real redis-server: pass, refuse, hang, and back, switched at run time."""

from __future__ import annotations

import time

import pytest
import redis
from faultproxy import FaultProxy


def _client(proxy: FaultProxy) -> redis.Redis:
    # no retries: each call shows what the proxy did to that one attempt
    return redis.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=0.5, socket_connect_timeout=0.5,
                       retry=None)


def test_pass_refuse_hang_pass(redis_server):
    with FaultProxy(redis_server.port) as proxy:
        open_client = _client(proxy)
        assert open_client.ping()
        assert open_client.set("fp", "1")

        proxy.set_mode("refuse")
        started = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            open_client.get("fp")  # the open connection was reset
        with pytest.raises(redis.ConnectionError):
            _client(proxy).ping()  # and a new one is refused
        assert time.monotonic() - started < 0.5, "refuse fails fast, it does not time out"

        proxy.set_mode("hang")
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            _client(proxy).ping()  # connected, sent, no answer
        assert time.monotonic() - started >= 0.45

        proxy.set_mode("pass")
        assert _client(proxy).get("fp") == b"1"


def test_hang_freezes_open_connections_too(redis_server):
    with FaultProxy(redis_server.port) as proxy:
        client = _client(proxy)
        assert client.ping()
        proxy.set_mode("hang")
        with pytest.raises(redis.TimeoutError):
            client.ping()  # the open connection stops answering, it is not closed
        proxy.set_mode("pass")
        assert _client(proxy).ping()
        with pytest.raises(ValueError, match="mode must be one of"):
            proxy.set_mode("drop")  # type: ignore[arg-type]
