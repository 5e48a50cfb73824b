"""`ocrq worker --gpus N` on a machine without GPU N refuses to start, in one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _worker(gpus: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path, "OCRQ_ENGINE": "checksum", "OCRQ_REDIS_URL": "redis://127.0.0.1:1/0"}
    return subprocess.run([sys.executable, "-m", "cli.main", "worker", "--gpus", gpus], check=False, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_missing_gpu_without_nvidia_smi(tmp_path: Path):
    r = _worker("0", str(tmp_path))  # an empty PATH folder: no nvidia-smi
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "GPU 0 not found" in lines[0] and "nvidia-smi is not installed" in lines[0]
    assert "--gpus none" in lines[0]


@pytest.mark.skipif(sys.platform != "linux", reason="a shell-script nvidia-smi")
def test_names_the_missing_one_of_several(tmp_path: Path):
    # nvidia-smi is the interface the worker reads; this one reports a one-GPU machine.
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0000)'\n")
    fake.chmod(0o755)
    r = _worker("0,1", f"{tmp_path}:/usr/bin:/bin")
    assert r.returncode != 0
    assert r.stderr.strip() == (
        "ocrq worker: GPU 1 not found (nvidia-smi lists GPUs 0); use --gpus none for a CPU-only worker"
    )
