"""The README's quick start, as a newcomer runs it, in a fresh clone of the repository.

`ocrq dev` on a taken port fails in one line naming it; on a free port it comes up, and every
command of the README's second-terminal block (read from README.md, so docs and test cannot
drift) runs verbatim and exits 0; Ctrl-C then stops it with no ERROR line and exit 0.
The clone uses this checkout's .venv through a symlink: nothing is installed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- quickstart:"
pytestmark = pytest.mark.slow


def readme_commands(readme: str) -> list[str]:
    """The lines of the fenced block after the quick-start marker, comments stripped."""
    after = readme[readme.index(MARKER):]
    block = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert block, "no ```sh block after the quick-start marker in README.md"
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    repo = tmp_path / "ocrq"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True, timeout=120)
    (repo / ".venv").symlink_to(ROOT / ".venv")
    return repo


def test_readme_quick_start_runs_verbatim_in_a_fresh_clone(clone: Path, tmp_path: Path):
    # PYTHONPATH: the clone's code, not the checkout the shared .venv has installed in editable mode.
    env = dict(os.environ, OCRQ_CLIENT_CONFIG=str(tmp_path / "client.json"), PYTHONUNBUFFERED="1",
               PYTHONPATH=str(clone))
    for name in ("OCRQ_URL", "OCRQ_API_KEY", "OCRQ_REDIS_URL", "OCRQ_LOG_FORMAT"):
        env.pop(name, None)
    ocrq = str(clone / ".venv" / "bin" / "ocrq")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run([ocrq, "dev", "--port", str(port)], check=False, cwd=clone, env=env,
                              capture_output=True, text=True, timeout=60)
    assert busy.returncode != 0
    assert len(busy.stderr.strip().splitlines()) == 1, busy.stderr
    assert f"port {port}" in busy.stderr and "--port" in busy.stderr and "PORT=" in busy.stderr
    assert not (tmp_path / "client.json").exists()  # a false start saves nothing

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    log = (tmp_path / "dev.log").open("w+")
    dev = subprocess.Popen([ocrq, "dev", "--port", str(free)], cwd=clone, env=env,
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "Ctrl-C stops everything" not in (tmp_path / "dev.log").read_text():
            assert dev.poll() is None, (tmp_path / "dev.log").read_text()
            assert time.monotonic() < deadline, "no banner in 180 s:\n" + (tmp_path / "dev.log").read_text()
            time.sleep(0.5)
        # A WMS under development receives webhooks on this machine: allowed by `ocrq dev`, and said so.
        banner = (tmp_path / "dev.log").read_text()
        assert "webhooks may target 127.0.0.0/8" in banner, banner
        key = re.search(r"API key\s+(\S+)", banner).group(1)
        hook = requests.post(f"http://127.0.0.1:{free}/v1/webhooks", headers={"Authorization": f"Bearer {key}"},
                             json={"url": "http://127.0.0.1:9/wms/ocr-events"}, timeout=30)
        assert hook.status_code == 201, hook.text
        commands = readme_commands((clone / "README.md").read_text())
        assert len(commands) >= 3
        for command in commands:
            done = subprocess.run(["bash", "-c", command], check=False, cwd=clone, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
        os.killpg(dev.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert dev.wait(timeout=60) == 0
    finally:
        if dev.poll() is None:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
        log.close()
    output = (tmp_path / "dev.log").read_text()
    (ROOT / "test-output").mkdir(exist_ok=True)
    (ROOT / "test-output" / "quickstart-dev.log").write_text(output)  # the README quotes this
    assert not [line for line in output.splitlines() if "ERROR" in line or "Traceback" in line], output
    assert "ocrq dev: stopped" in output
