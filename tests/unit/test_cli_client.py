"""The CLI's client settings and messages as a newcomer meets them: no key, two checkouts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cli.client import resolve, write_client_config

ROOT = Path(__file__).resolve().parents[2]


def test_without_any_key_the_cli_says_what_to_do_not_what_http_wants(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "cli.main", "submit", str(ROOT / "examples" / "receipt.jpg")],
                          cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "ocrq dev" in done.stderr and "OCRQ_API_KEY" in done.stderr, done.stderr
    assert "Authorization" not in done.stderr and "Traceback" not in done.stderr


def test_two_checkouts_running_ocrq_dev_keep_their_own_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OCRQ_CLIENT_CONFIG", raising=False)
    for name in ("OCRQ_URL", "OCRQ_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    first, second = tmp_path / "first", tmp_path / "second"
    # What each `ocrq dev` saves, the first one started first (with its default --data-dir ./var).
    write_client_config("http://127.0.0.1:8080", "key-of-first", data_dir=first / "var")
    write_client_config("http://127.0.0.1:8081", "key-of-second", data_dir=second / "var")
    (first / "src").mkdir()
    monkeypatch.chdir(first / "src")  # anywhere inside the first checkout
    assert resolve(None, None) == ("http://127.0.0.1:8080", "key-of-first")
    monkeypatch.chdir(second)
    assert resolve(None, None) == ("http://127.0.0.1:8081", "key-of-second")
    monkeypatch.chdir(tmp_path)  # outside both: the last one started, as before
    assert resolve(None, None) == ("http://127.0.0.1:8081", "key-of-second")
    assert oct((first / "var" / "client.json").stat().st_mode & 0o777) == "0o600"
