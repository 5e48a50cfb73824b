"""One registry per extension point (issue 23 item 2): a result format (shared/results/formats.py) and an
engine (shared/engines.py) are each declared once, and everything that offers them reads the declaration.

The first test declares a dummy format and a dummy engine, in this file only, and finds both everywhere a
client or operator meets them: settings validation, the gateway (validation, the rendered answer, the
OpenAPI document, the console config), batches (accepted, written as <key>.<suffix>), the CLI (choices,
suffixes, help), `ocrq worker` (pool, GPUs, packages) and the loader. The last tests keep it that way: no
other module spells out the list of formats or of engines.
"""

from __future__ import annotations

import ast
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import imaging
import pytest
import redis

from api.app import create_app
from models.base import EngineError, EngineOutput, EngineRequest
from shared.engines import ENGINES, EngineInfo, register_engine
from shared.infra.settings import Settings, SettingsError, load_settings
from shared.results.formats import FORMATS, Rendering, ResultFormat, register_format
from shared.results.model import Line
from shared.tenants import KeyStore

ROOT = Path(__file__).resolve().parents[2]


class DummyEngine:
    """Reads every image as the words DUMMY TEXT, one line over the whole image."""

    name = "dummy-ocr"
    version = "dummy-1"
    tasks = frozenset({"text", "barcodes"})

    @classmethod
    def from_settings(cls, settings: Settings) -> DummyEngine:
        return cls()

    def run(self, requests: Sequence[EngineRequest]) -> list[EngineOutput | EngineError]:
        return [EngineOutput(text="DUMMY text", lines=[Line(text="DUMMY text", box=(0, 0, *r.image.size))])
                for r in requests]


def _shout(r: Rendering) -> bytes:
    return f"{r.job.id}: {str(r.result.get('text', '')).upper()}!\n".encode()


SHOUT = ResultFormat("shout", "text/x-shout; charset=utf-8", "shout", _shout, label="Shouted text",
                     description="the text in capitals")
DUMMY = EngineInfo("dummy-ocr", frozenset({"text", "barcodes"}), f"{__name__}:DummyEngine.from_settings",
                   device="gpu", pool="threads", extra="dummy", packages=("ocrq_dummy_package_not_installed",),
                   summary="a test's engine")


@pytest.fixture
def declared() -> Iterator[None]:
    """The two declarations a new format and a new engine consist of, undone afterwards."""
    register_format(SHOUT)
    register_engine(DUMMY)
    try:
        yield
    finally:
        FORMATS.pop(SHOUT.name)
        ENGINES.pop(DUMMY.name)


def test_a_format_and_an_engine_declared_once_appear_everywhere(declared: None, redis_db: str,
                                                                 tmp_path: Path) -> None:
    # settings: OCRQ_ENGINE accepts the engine, and names it among the choices when refusing another
    settings = load_settings(redis_url=redis_db, storage_url=f"file://{tmp_path / 'blobs'}", engine="dummy-ocr")
    with pytest.raises(SettingsError, match="dummy-ocr"):
        load_settings(engine="tesseract")

    # the loader: imported from its dotted path only now
    from models.registry import load_engine

    engine = load_engine(settings)
    assert isinstance(engine, DummyEngine)

    app = create_app(settings, send_job=lambda job_id, queue: None)
    c = app.test_client()
    rc = redis.Redis.from_url(redis_db)
    key = KeyStore(rc).create("acme", "test")[0]
    h = {"Authorization": f"Bearer {key}"}

    # the OpenAPI document: the engine's tasks, the format in every enum and its media type
    doc = c.get("/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert schemas["JobCreate"]["properties"]["task"]["enum"] == ["text", "barcodes"]
    result_op = doc["paths"]["/v1/jobs/{job_id}/result"]["get"]
    fmt_param = next(p for p in result_op["parameters"] if p["name"] == "format")
    assert fmt_param["schema"]["enum"][-1] == "shout" and "shout: the text in capitals" in fmt_param["description"]
    assert "text/x-shout" in result_op["responses"]["200"]["content"]
    output_format = schemas["BatchCreate"]["properties"]["output_format"]
    assert all("shout" in (alt.get("items") or alt)["enum"] for alt in output_format["anyOf"])
    assert "<key>.shout (shout)" in output_format["description"]
    assert "shout" in schemas["BatchOutput"]["properties"]["formats"]["items"]["enum"]

    # the console config: the engine's tasks and the format's download button
    cfg = c.get("/console/config.json").get_json()
    assert cfg["engine"] == "dummy-ocr" and cfg["tasks"] == ["text", "barcodes"]
    assert {"name": "shout", "label": "Shouted text", "suffix": "shout", "media_type": SHOUT.media_type,
            "binary": False, "download": True} in cfg["formats"]

    # the gateway: submit checks the engine's tasks; the result is answered in the format
    upload = {"file": (io.BytesIO(imaging.jpeg()), "a.jpg")}
    spotting = c.post("/v1/jobs", data={**upload, "task": "spotting"}, headers=h, content_type="multipart/form-data")
    assert spotting.status_code == 400 and spotting.get_json()["type"].endswith(":unsupported_task")
    upload = {"file": (io.BytesIO(imaging.jpeg()), "a.jpg")}
    job_id = c.post("/v1/jobs", data=upload, headers=h, content_type="multipart/form-data").get_json()["id"]
    _succeed_with_dummy_engine(app, job_id, engine, settings)
    answer = c.get(f"/v1/jobs/{job_id}/result?format=shout", headers=h)
    assert answer.status_code == 200, answer.get_json()
    assert answer.content_type == SHOUT.media_type and answer.data == f"{job_id}: DUMMY TEXT!\n".encode()
    assert answer.headers["Content-Disposition"] == f'inline; filename="{job_id}.shout"'
    assert c.get(f"/v1/jobs/{job_id}/result?format=whisper", headers=h).status_code == 400

    # batches: accepted in output_format, written beside each item as <key>.<suffix>
    KeyStore(rc).allow_bucket("acme", "scans")
    made = c.post("/v1/batches", headers=h, json={"source": {"bucket": "scans", "prefix": "in/"},
                                                  "output": {"bucket": "scans", "prefix": "out/"},
                                                  "output_format": ["json", "shout"]})
    assert made.status_code == 202, made.get_json()
    assert made.get_json()["output"]["formats"] == ["json", "shout"]
    written = _write_batch_outputs(app, made.get_json()["id"], settings)
    assert written == f"{made.get_json()['id']}: DUMMY TEXT!\n".encode()

    # the CLI: --format choices, -o suffixes, backfill's help; ocr --engine choices; the worker's pool and GPUs
    from cli.engines import missing_engine_packages
    from cli.main import build_parser
    from cli.output import output_format as cli_format
    from cli.serve import celery_worker_cmd

    parser = build_parser()
    assert parser.parse_args(["submit", "a.jpg", "--format", "shout"]).format == "shout"
    assert cli_format(parser.parse_args(["submit", "a.jpg", "-o", "a.SHOUT"])) == "shout"
    assert parser.parse_args(["ocr", "a.jpg", "--engine", "dummy-ocr"]).engine == "dummy-ocr"
    backfill = next(a for a in parser._subparsers._group_actions[0].choices["backfill"]._actions  # type: ignore[union-attr]
                    if "--format" in a.option_strings)
    assert "shout" in (backfill.help or "")
    assert celery_worker_cmd(settings, "interactive", "gpu0", "INFO")[1] == "threads"
    assert missing_engine_packages("dummy-ocr") == ("engine dummy-ocr needs ocrq_dummy_package_not_installed: "
                                                    "pip install 'ocrq[dummy]' (or -e '.[dummy]' in a checkout)")


def _succeed_with_dummy_engine(app: Any, job_id: str, engine: DummyEngine, settings: Settings) -> None:
    """What a worker does with the job, with the dummy engine: OCR the stored input, store the result."""
    from cli.ocr_cmd import ocr_file
    from shared.infra.blobs import result_key

    services = app.extensions["ocrq"]
    job = services.store.get(job_id)
    result = ocr_file(services.blobs.get(job.input.key), settings, engine, "text")
    assert result.text == "DUMMY text"
    key = result_key(job.tenant, job_id)
    services.blobs.put(key, result.model_dump_json().encode(), "application/json")
    assert services.store.claim(job_id, "test-worker", 60).applied
    assert services.store.succeed(job_id, "test-worker", key).applied


def _write_batch_outputs(app: Any, batch_id: str, settings: Settings) -> bytes:
    """An item of the batch finishing as the planner's hook finishes it: every output format written."""
    from shared.batches.dedup import write_outputs
    from shared.batches.model import Batch
    from shared.batches.sources import Item
    from shared.jobs.model import InputRef

    services = app.extensions["ocrq"]
    batch = Batch.load(services.redis, batch_id)
    assert batch is not None
    ref = InputRef(bucket="scans", key="in/a.jpg", sha256="0" * 64, bytes=1, content_type="image/jpeg",
                   width=8, height=8)
    write_outputs(services.blobs, settings, batch, Item(key="in/a.jpg"), ref, "fp", {"text": "dummy text"},
                  job_id=batch_id)
    assert json.loads(services.blobs.get("out/in/a.jpg.json", bucket="scans"))["ocrq"]["formats"] == ["json", "shout"]
    data: bytes = services.blobs.get("out/in/a.jpg.shout", bucket="scans")
    return data


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        register_format(FORMATS["pdf"])
    with pytest.raises(ValueError, match="declared twice"):
        register_engine(ENGINES["rapidocr"])
    with pytest.raises(ValueError, match="unknown tasks"):
        register_engine(EngineInfo("x", frozenset({"dance"}), "m:f", device="cpu", pool="prefork", summary=""))


def _literals(path: Path) -> Iterator[tuple[int, set[str]]]:
    """The strings of each tuple, list, set and dict literal, and each Literal[...] / `in (...)`, of a module."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        items: list[ast.expr] = []
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = [k for k in node.keys if k is not None]
        strings = {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
        if strings:
            yield node.lineno, strings


@pytest.mark.parametrize(("registry", "names"), [
    ("shared/results/formats.py", ("json", "text", "markdown", "hocr", "pdf")),
    ("shared/engines.py", ("rapidocr", "hunyuan", "hunyuan-vllm", "checksum")),
])
def test_no_other_module_spells_out_the_list(registry: str, names: tuple[str, ...]) -> None:
    """A literal naming two or more of the registry's entries outside it is a list kept by hand."""
    # "json" and "text" are also the result's own fields ({"text": ..., "markdown": ...}): not counted.
    distinctive = set(names) - {"json", "text"}
    found = []
    for package in ("api", "workers", "shared", "models", "cli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() == registry:
                continue
            for line, strings in _literals(path):
                if len(strings & distinctive) >= 2:
                    found.append(f"{path.relative_to(ROOT)}:{line} {sorted(strings & set(names))}")
    assert found == []


def test_the_console_names_no_format() -> None:
    """The console's downloads come from /console/config.json, not from a table of its own."""
    for path in sorted((ROOT / "api" / "static" / "console").glob("*.js")):
        text = path.read_text()
        assert not any(f'"{name}"' in text or f"'{name}'" in text for name in ("pdf", "hocr")), path.name
