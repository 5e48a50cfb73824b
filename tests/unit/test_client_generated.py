"""clients/python is what /openapi.json generates: `scripts/generate_client.py --check` takes the
document in process (no server), runs the pinned openapi-python-client into a temporary folder and
compares; a stale client (the API changed, or generated code edited by hand) fails here, so in CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCRQ_")}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_client.py"), "--check", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_the_committed_client_is_what_openapi_json_generates() -> None:
    done = check()
    assert done.returncode == 0, done.stderr[-4000:]
    assert "up to date" in done.stdout


def test_a_stale_client_fails_the_check(tmp_path: Path) -> None:
    stale = tmp_path / "python"
    shutil.copytree(CLIENT, stale, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    assert check("--client-dir", str(stale)).returncode == 0  # the copy itself is current

    # the API gained an answer field since the client was generated: the committed document lacks it
    doc = json.loads((stale / "openapi.json").read_text())
    del doc["components"]["schemas"]["JobOut"]["properties"]["needs_review"]
    (stale / "openapi.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    model = stale / "ocrq_client" / "generated" / "models" / "job_out.py"
    model.write_text("\n".join(line for line in model.read_text().splitlines() if "needs_review" not in line) + "\n")
    done = check("--client-dir", str(stale))
    assert done.returncode == 1
    assert "stale" in done.stderr and "make client" in done.stderr
    assert "openapi.json" in done.stderr and "generated/models/job_out.py" in done.stderr

    # an operation removed from the API: its generated module is no longer generated
    (stale / "openapi.json").write_text((CLIENT / "openapi.json").read_text())
    model.write_text((CLIENT / "ocrq_client" / "generated" / "models" / "job_out.py").read_text())
    extra = stale / "ocrq_client" / "generated" / "api" / "jobs" / "purge_everything.py"
    extra.write_text("def sync() -> None: ...\n")
    done = check("--client-dir", str(stale))
    assert done.returncode == 1 and "purge_everything.py: committed but no longer generated" in done.stderr
