"""`pip install ocrq` (no extras) is the client and the gateway: neither may import an engine.

Each check runs in a fresh interpreter whose import system refuses the engine packages, as a lean
install would (they are installed in the test venv, so a plain import would hide the problem).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE_PACKAGES = ("torch", "transformers", "onnxruntime", "rapidocr", "vllm", "safetensors", "accelerate")

BLOCKER = textwrap.dedent(f"""
    import sys

    class _NoEngines:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {ENGINE_PACKAGES!r}:
                raise ImportError(f"{{name}} is not installed (lean install)", name=name)
            return None

    sys.meta_path.insert(0, _NoEngines())
""")


def run_lean(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code), *args],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )


def test_the_blocker_really_blocks_an_engine():
    proc = run_lean("import torch")
    assert proc.returncode != 0 and "lean install" in proc.stderr


def test_the_gateway_app_starts_without_any_engine(tmp_path):
    import os

    env = dict(os.environ, OCRQ_STORAGE_URL=f"file://{tmp_path}", OCRQ_REDIS_URL="redis://127.0.0.1:1/0")
    proc = run_lean("""
        import sys
        import api.wsgi
        resp = api.wsgi.app.test_client().get("/healthz")
        assert resp.status_code == 200, resp.data
        assert api.wsgi.app.test_client().get("/openapi.json").status_code == 200
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("models",) or m.startswith("workers.ocr_worker"))
        print("engine modules:", heavy)
    """, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "engine modules: []" in proc.stdout


def test_the_client_commands_work_without_any_engine():
    for argv in (["submit", "--help"], ["dev", "--help"], ["status", "--help"], ["keys", "create", "--help"]):
        proc = run_lean("""
            import sys
            from cli.main import main
            sys.exit(main(sys.argv[1:]))
        """, *argv)
        assert proc.returncode == 0, (argv, proc.stderr[-3000:])
        assert proc.stdout.startswith(f"usage: ocrq {argv[0]}"), proc.stdout[:200]


def test_ocr_without_its_engine_says_which_extra_to_install_in_one_line(tmp_path):
    image = ROOT / "examples" / "label.png"
    proc = run_lean("""
        import sys
        from cli.main import main
        sys.exit(main(sys.argv[1:]))
    """, "ocr", str(image), "--engine", "rapidocr")
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines() == [
        "ocrq ocr: engine rapidocr needs rapidocr, onnxruntime: pip install 'ocrq[cpu]' (or -e '.[cpu]' in a checkout)"
    ]
