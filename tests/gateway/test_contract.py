"""The contract generated from the models (api/contract.py, api/openapi.py, api/problems.py), in process:
the document keeps everything clients relied on when it was hand-written, lists every route from the
routes themselves, every problem code is declared once with its status and meaning, and requests are
refused with the codes and field names clients have always been given."""

from __future__ import annotations

import ast
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import imaging
import pytest
import redis
from problems import problem

from api.app import create_app
from api.contract import PAGE, contract_of
from api.problems import _declared, catalogue, status_of
from shared import errors
from shared.infra.settings import load_settings
from shared.tenants import KeyStore

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "tests" / "data" / "openapi-baseline.txt"


# ------------------------------------------------------------------ facts of a document
def _resolve(spec: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].split("/")[-1]
            return {} if name in seen else _resolve(spec, spec["components"]["schemas"][name], (*seen, name))
        return {k: _resolve(spec, v, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(spec, v, seen) for v in node]
    return node


def _fields(schema: Any, prefix: str = "") -> set[str]:
    out: set[str] = set()
    if not isinstance(schema, dict):
        return out
    for alt in schema.get("anyOf", []) + schema.get("allOf", []):
        out |= _fields(alt, prefix)
    if schema.get("type") == "array" or "items" in schema:
        out |= _fields(schema.get("items", {}), prefix + "[]")
    for name, sub in schema.get("properties", {}).items():
        out.add(prefix + name)
        out |= _fields(sub, prefix + name + ".")
    return out


def facts(spec: dict[str, Any]) -> set[str]:
    """One line per path, operation, parameter, body and answer field, header, and problem code per status."""
    out = set()
    for path, item in spec["paths"].items():
        for p in item.get("parameters", []):
            out.add(f"param * {path} {p['in']}:{p['name']}")
        for m, op in item.items():
            if m == "parameters":
                continue
            out.add(f"op {m} {path} {op['operationId']}")
            for p in op.get("parameters", []):
                out.add(f"param {m} {path} {p['in']}:{p['name']}")
            for media, c in op.get("requestBody", {}).get("content", {}).items():
                out.add(f"body {m} {path} {media}")
                out |= {f"body-field {m} {path} {media} {f}" for f in _fields(_resolve(spec, c["schema"]))}
            for st, r in op["responses"].items():
                out.add(f"status {m} {path} {st}")
                out |= {f"header {m} {path} {st} {h}" for h in r.get("headers", {})}
                for media, c in r.get("content", {}).items():
                    out.add(f"reply {m} {path} {st} {media}")
                    out |= {f"reply-field {m} {path} {st} {f}" for f in _fields(_resolve(spec, c.get("schema", {})))}
                if st[0] in "45" and st != "414":
                    desc = re.sub(r"\([^)]*\)", "", r["description"].removeprefix("Problem:"))
                    for token in desc.split(","):
                        code = re.match(r"\s*([a-z_]+)", token)
                        if code:
                            out.add(f"code {st} {code.group(1)}")
    return out


@pytest.fixture(scope="module")
def app() -> Any:
    # Building the document needs no Redis: the client connects lazily.
    return create_app(load_settings(redis_url="redis://127.0.0.1:1/0", storage_url="file:///nonexistent-ocrq"),
                      send_job=lambda job_id, queue: None)


@pytest.fixture(scope="module")
def spec(app: Any) -> dict[str, Any]:
    resp = app.test_client().get("/openapi.json")
    assert resp.status_code == 200
    found: dict[str, Any] = resp.get_json()
    return found


# ------------------------------------------------------------------ the document
def test_the_document_keeps_every_path_parameter_field_and_code_clients_relied_on(spec: dict[str, Any]) -> None:
    baseline = {line for line in BASELINE.read_text().splitlines() if line and not line.startswith("#")}
    assert len(baseline) > 1500
    assert sorted(baseline - facts(spec)) == []


def test_every_route_is_an_operation_with_its_contract_and_pages_are_none(app: Any, spec: dict[str, Any]) -> None:
    documented = {(path, m) for path, item in spec["paths"].items() for m in item if m != "parameters"}
    served = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint == "static" or getattr(view, PAGE, False):
            continue
        assert contract_of(view) is not None, rule.rule
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        served |= {(path, m.lower()) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert documented == served
    assert not any(p.startswith(("/console", "/docs")) or p == "/" for p, _ in documented)
    ops = [op["operationId"] for item in spec["paths"].values() for m, op in item.items() if m != "parameters"]
    assert len(ops) == len(set(ops))


def test_the_deployment_decides_the_tasks_and_the_wait_cap() -> None:
    settings = load_settings(redis_url="redis://127.0.0.1:1/0", storage_url="file:///nonexistent-ocrq",
                             engine="hunyuan", model_path="/nonexistent", wait_max_s=7)
    doc = create_app(settings, send_job=lambda j, q: None).test_client().get("/openapi.json").get_json()
    assert "ask" in doc["components"]["schemas"]["JobCreate"]["properties"]["task"]["enum"]
    assert "ask" in doc["components"]["schemas"]["JobUpload"]["properties"]["task"]["enum"]
    wait = next(p for p in doc["paths"]["/v1/jobs/{job_id}"]["get"]["parameters"] if p["name"] == "wait")
    assert wait["schema"]["maximum"] == 7
    assert "x-ocrq-deployment" not in json.dumps(doc)


def test_the_multipart_upload_is_documented_as_the_form_clients_send(spec: dict[str, Any]) -> None:
    form = spec["components"]["schemas"]["JobUpload"]
    assert form["required"] == ["file"] and form["additionalProperties"] is False
    assert {name: prop["type"] for name, prop in form["properties"].items()} == dict.fromkeys(form["properties"],
                                                                                               "string")
    assert set(form["properties"]) - {"file"} == set(spec["components"]["schemas"]["JobCreate"]["properties"]) - {
        "source"}


def test_api_has_no_openapi_path_literal() -> None:
    """Paths come from the route decorators; a path string anywhere else in api/ is a hand-written document."""
    found = []
    for path in sorted((ROOT / "api").glob("*.py")):
        tree = ast.parse(path.read_text())
        routes = {id(call.args[0]) for call in ast.walk(tree) if isinstance(call, ast.Call) and call.args
                  and isinstance(call.func, ast.Attribute) and call.func.attr in ("get", "post", "delete", "route")
                  and isinstance(call.func.value, ast.Name) and call.func.value.id == "bp"}
        in_fstrings = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in routes
                    and id(node) not in in_fstrings and re.fullmatch(r"/(v1|healthz|readyz|metrics|openapi)\S*", node.value)):
                found.append(f"{path.name}:{node.lineno} {node.value}")
    assert found == []


# ------------------------------------------------------------------ the catalogue
def test_each_problem_code_is_declared_once_with_its_status_and_meaning() -> None:
    by_pair: dict[tuple[str, int | None], list[type]] = {}
    for cls in _declared(errors.OcrqError):
        assert " ".join((cls.__doc__ or "").split()), f"{cls.__module__}.{cls.__qualname__} says nothing of its meaning"
        by_pair.setdefault((cls.code, status_of(cls)), []).append(cls)
    for (code, _status), classes in by_pair.items():
        # a code redeclared under the same status only by a subclass of its first class (DamagedDocument)
        assert all(issubclass(c, classes[0]) or issubclass(classes[0], c) for c in classes), (code, classes)
    statuses = catalogue()
    assert statuses[400]["invalid_query"] and statuses[404]["job_not_found"] and statuses[503]["queue_full"]
    assert {"result_not_available"} <= set(statuses[404]) & set(statuses[409])  # not yet / never
    # an image the gateway refuses is a domain error like any other: its status from its class
    assert all(code in statuses[status] for code, status in IMAGE_CODES.items()), statuses


IMAGE_CODES = {"empty_file": 400, "too_many_pixels": 413, "too_many_frames": 413, "unsupported_media_type": 415,
               "invalid_image": 422, "corrupt_image": 422, "unreadable_shape": 422}


# ------------------------------------------------------------------ validation from the models
@pytest.fixture
def client(redis_db: str, tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    settings = load_settings(redis_url=redis_db, storage_url=f"file://{tmp_path / 'blobs'}", wait_max_s=2)
    key = KeyStore(redis.Redis.from_url(redis_db)).create("acme", "test")[0]
    yield create_app(settings, send_job=lambda j, q: None).test_client(), {"Authorization": f"Bearer {key}"}


def _upload(client: Any, headers: dict[str, str], file: bool = True, **form: str) -> Any:
    data: dict[str, Any] = {"file": (io.BytesIO(imaging.jpeg()), "a.jpg")} if file else {}
    return client.post("/v1/jobs", data={**data, **form}, headers=headers, content_type="multipart/form-data")


def test_form_refusals_keep_their_codes_and_order(client: tuple[Any, dict[str, str]]) -> None:
    c, h = client
    problem(_upload(c, h, file=False, colour="red"), 400, "missing_file")  # the file first
    body = problem(_upload(c, h, colour="red", task="summarize"), 422, "validation_error")  # unknown fields next
    assert [e["field"] for e in body["errors"]] == ["colour"]
    problem(_upload(c, h, task="summarize", priority="urgent"), 400, "unknown_task")
    problem(_upload(c, h, task="ask", instruction="x" * 2001), 400, "invalid_task_params")
    problem(_upload(c, h, target_lang="fr"), 400, "invalid_task_params")
    problem(_upload(c, h, fields="[oops"), 400, "invalid_task_params")
    problem(_upload(c, h, metadata="{oops"), 400, "malformed_json")
    problem(_upload(c, h, pages="1," * 600), 422, "invalid_pages")
    problem(_upload(c, h, webhook_url="https://" + "a" * 3000 + ".com/"), 400, "unsafe_webhook_url")
    body = problem(_upload(c, h, metadata=json.dumps({"a": "x" * 5000})), 422, "validation_error")
    assert body["errors"][0]["field"] == "metadata"
    empty = dict.fromkeys(("task", "priority", "metadata", "fields", "quality", "barcodes", "pages", "webhook_url"), "")
    assert _upload(c, h, **empty).status_code == 202  # an empty field is an absent one


def test_query_and_json_refusals_name_the_field(client: tuple[Any, dict[str, str]]) -> None:
    c, h = client
    body = problem(c.get("/v1/jobs?limit=0&colour=1", headers=h), 400, "invalid_query")
    assert {e["field"] for e in body["errors"]} == {"limit", "colour"}
    problem(c.get("/v1/jobs?limit=1&limit=2", headers=h), 400, "invalid_query")
    assert c.get("/v1/jobs?needs_review=TRUE&limit=%2B5", headers=h).status_code == 200
    jid = _upload(c, h).get_json()["id"]
    for wait in ("3", "-1", "nan", "abc", ""):
        problem(c.get(f"/v1/jobs/{jid}?wait={wait}", headers=h), 400, "invalid_wait")
    problem(c.get(f"/v1/jobs/{jid}/result?format=docx", headers=h), 400, "invalid_format")
    problem(c.get(f"/v1/jobs/{jid}/image?page=1.5", headers=h), 400, "invalid_query")
    problem(c.get(f"/v1/jobs/{jid}/image?page=2", headers=h), 422, "invalid_pages")
    body = problem(c.post("/v1/jobs", json={"source": {"bucket": 7, "key": "k"}}, headers=h), 422, "validation_error")
    assert body["errors"][0]["field"] == "source.bucket" and body["detail"].startswith("source.bucket:")
    problem(c.post("/v1/jobs", json={"source": {"bucket": "b", "key": "k"}, "task": 5}, headers=h), 400, "unknown_task")
    problem(c.post("/v1/jobs", data="{", headers={**h, "Content-Type": "application/json"}), 400, "malformed_json")
    problem(c.post("/v1/webhooks", json={"url": "https://example.com/", "events": ["job.done"]}, headers=h),
            422, "validation_error")
    problem(c.post("/v1/webhooks", json=[], headers=h), 400, "malformed_json")
    assert c.delete(f"/v1/jobs/{jid}?purge=maybe", headers=h).status_code == 200  # any other value: no purge
