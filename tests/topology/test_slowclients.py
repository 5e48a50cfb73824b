"""Slow clients through the shipped proxy: /healthz stays fast while connections trickle headers.

Real processes on loopback: redis-server, `ocrq api` (gunicorn, 16 gthreads) and nginx with
compose/nginx.conf (only its ports rewritten), driven by bench/slowclients.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.slowclients import attack, stack

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                       reason="nginx is not installed (apt-get install nginx-light)"),
]


def test_healthz_stays_fast_through_nginx_under_slow_clients(tmp_path: Path):
    with stack(tmp_path) as st:
        assert st.nginx_port is not None
        # The same attack straight at gunicorn starves it: the attack is real.
        direct = attack("gunicorn", st.gateway_port, slow=50, seconds=4)
        assert direct.opened == 50
        assert direct.pct(0.99) > 1000, direct.latencies_ms
        proxied = attack("nginx", st.nginx_port, slow=50, seconds=4)
        assert proxied.opened == 50
        assert len(proxied.latencies_ms) > 50, "the probe kept going"
        assert proxied.errors == 0
        assert proxied.pct(0.99) < 100, f"p99 {proxied.pct(0.99):.1f} ms through nginx"
