"""Regenerate (or check) the Python client's generated code from the gateway's own /openapi.json.

    .venv/bin/python scripts/generate_client.py           # `make client`: rewrite clients/python/
    .venv/bin/python scripts/generate_client.py --check   # exit 1 when the committed code is stale
    (tests/unit/test_client_generated.py runs the check, so `make test` and CI fail on a stale client)

The document is taken in process (create_app + test_client, no server, no Redis) from a gateway
configured as a deployment whose engine can do every task, and written to
clients/python/openapi.json as served. openapi-python-client (the version pinned in pyproject's dev
extra) turns it into clients/python/ocrq_client/generated/; the hand-written layer beside it
(ocrq_client/_client.py, ocrq_client/webhooks.py) is never touched. The generator always writes
into a fresh temporary folder, with no formatter run after it (a formatter's output changes with
its version), so regenerating and checking produce the same bytes on every machine.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "clients" / "python"
CONFIG = "openapi-python-client.yaml"
GENERATED = Path("ocrq_client") / "generated"
GENERATOR_VERSION = "0.29.1"  # the same pin as pyproject.toml's dev extra


def served_document() -> dict[str, Any]:
    """GET /openapi.json of a gateway whose engine can do every task (the client serves any deployment)."""
    for name in [n for n in os.environ if n.startswith("OCRQ_")]:
        del os.environ[name]  # the document must not depend on who runs this
    sys.path.insert(0, str(ROOT))
    from api.app import create_app
    from shared.infra.settings import load_settings

    settings = load_settings(redis_url="redis://127.0.0.1:1/0", storage_url="file:///nonexistent-ocrq",
                             engine="hunyuan", model_path="(client generation)", wait_max_s=30)
    resp = create_app(settings, send_job=lambda job_id, queue: None).test_client().get("/openapi.json")
    if resp.status_code != 200:
        raise SystemExit(f"generate_client: GET /openapi.json answered {resp.status_code}")
    doc: dict[str, Any] = resp.get_json()
    return doc


def for_the_generator(doc: dict[str, Any]) -> dict[str, Any]:
    """The one adaptation the generator needs: OpenAPI 3.1 says "bytes" with a ``contentMediaType``
    (a file part, a PDF answer); openapi-python-client knows only 3.0's ``format: binary`` (a ``File``)."""
    out = copy.deepcopy(doc)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            media = node.get("contentMediaType")
            if node.get("type") == "string" and isinstance(media, str) and not media.startswith("text/"):
                node["format"] = "binary"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out)
    return out


def spec_text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generator() -> list[str]:
    exe = Path(sys.executable).parent / "openapi-python-client"
    if not exe.exists():
        found = shutil.which("openapi-python-client")
        if found is None:
            raise SystemExit(f"generate_client: openapi-python-client is not installed: "
                             f".venv/bin/pip install 'openapi-python-client=={GENERATOR_VERSION}' (make setup does)")
        exe = Path(found)
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60).stdout
    if GENERATOR_VERSION not in version:
        raise SystemExit(f"generate_client: openapi-python-client {GENERATOR_VERSION} is pinned, "
                         f"found {version.strip()!r}")
    return [str(exe)]


def generate(doc: dict[str, Any], into: Path, config: Path) -> Path:
    """The generated package for ``doc`` under ``into``/generated; returns that folder."""
    src = into / "openapi.json"
    src.write_text(spec_text(for_the_generator(doc)))
    out = into / "generated"
    done = subprocess.run([*generator(), "generate", "--path", str(src), "--config", str(config),
                           "--meta", "none", "--output-path", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=into)
    if done.returncode != 0 or not (out / "__init__.py").is_file():
        raise SystemExit(f"generate_client: the generator failed:\n{done.stdout}\n{done.stderr}")
    for path in out.rglob("*.py"):
        path.write_text(tidy(path.read_text()))
    return out


def tidy(code: str) -> str:
    """What the template engine leaves, made plain without a formatter: no trailing blanks, at most two
    empty lines in a row, one newline at the end (the same bytes with any tool's version)."""
    lines = [line.rstrip() for line in code.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and len(out) >= 2 and not out[-1] and not out[-2]:
            continue
        out.append(line)
    while out and not out[0]:
        out.pop(0)
    return "\n".join(out).rstrip("\n") + "\n"


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


def differences(committed: dict[str, str], fresh: dict[str, str], label: str) -> list[str]:
    out: list[str] = []
    for name in sorted(set(committed) | set(fresh)):
        if name not in fresh:
            out.append(f"{label}/{name}: committed but no longer generated")
        elif name not in committed:
            out.append(f"{label}/{name}: generated but not committed")
        elif committed[name] != fresh[name]:
            diff = difflib.unified_diff(committed[name].splitlines(), fresh[name].splitlines(),
                                        f"committed {label}/{name}", f"generated {label}/{name}", lineterm="", n=1)
            out.append("\n".join(list(diff)[:40]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="regenerate into a temporary folder; exit 1 if it differs")
    p.add_argument("--client-dir", type=Path, default=CLIENT, help="the client's folder (default: clients/python)")
    args = p.parse_args(argv)
    client = args.client_dir.resolve()
    spec, generated = client / "openapi.json", client / GENERATED
    label = client.relative_to(ROOT).as_posix() if client.is_relative_to(ROOT) else str(client)
    doc = served_document()
    with tempfile.TemporaryDirectory(prefix="ocrq-client-") as tmp:
        fresh = generate(doc, Path(tmp), client / CONFIG)
        if args.check:
            found = differences({"openapi.json": spec.read_text()} if spec.exists() else {},
                                {"openapi.json": spec_text(doc)}, label)
            found += differences(tree(generated) if generated.exists() else {}, tree(fresh),
                                 f"{label}/{GENERATED.as_posix()}")
            if found:
                print("\n".join(found[:20]), file=sys.stderr)
                print(f"generate_client: the committed client is stale ({len(found)} files differ from what "
                      f"/openapi.json generates): run `make client` and commit {label}/", file=sys.stderr)
                return 1
            print(f"generate_client: {label} is up to date with /openapi.json")
            return 0
        spec.write_text(spec_text(doc))
        if generated.exists():
            shutil.rmtree(generated)
        shutil.copytree(fresh, generated)
    print(f"generate_client: wrote {label}/openapi.json and {label}/{GENERATED.as_posix()}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
