"""GET /openapi.json: the OpenAPI 3.1 document of the gateway, written from the routes themselves.

Every rule of ``app.url_map`` is an operation: its path and methods come from Flask, its path
parameters' schemas from the view's annotations (``job_id: JobId``), everything else from the
contract the view carries (api/contract.py): the query, header and body models and the answers'
models (shared/api_schemas/, as components ``#/components/schemas/<Model>``), and the statuses of
its problems, each described by the codes the catalogue declares for that status
(api/problems.py). Keyed routes add the statuses every keyed route can answer (400, 401, 429, 500)
and gunicorn's 414. A route without a contract still appears, tagged "other", so that
tests/service/test_openapi.py notices it; pages for browsers (``@page``) are no operations.

A few values depend on the deployment and are filled in per gateway: the tasks its engine can do
and the long-poll cap (properties marked with ``shared.api_schemas.common.deployment``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema
from werkzeug.routing import Rule

from api.context import services
from api.contract import PAGE, REQUIRES_KEY, Contract, Reply, contract, contract_of
from api.problems import PROBLEM_JSON, catalogue
from shared.api_schemas.common import DEPLOYMENT_KEY, Problem
from shared.engines import ENGINES
from shared.jobs.task_spec import TASK_NAMES

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
TAGS = ("jobs", "webhooks", "batches", "ops")
ALWAYS = (400, 401, 429, 500)  # what every keyed route can answer (400: e.g. a query parameter given twice)
RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "Location": {"description": "The URL of what the request created", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "Idempotent-Replayed": {"description": "true: an earlier request with this Idempotency-Key created the job",
                            "schema": {"type": "string", "enum": ["true"]}},
    "traceparent": {"description": "Only while the gateway traces (OpenTelemetry): the W3C traceparent of the job's "
                                   "submit span; its trace id is the job's trace_id",
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"}},
}
# gunicorn answers this itself, before the application sees the request (not problem+json).
SERVER_ERRORS = {
    "414": {"description": "URI too long (over 4094 bytes in the request line); from the HTTP server",
            "content": {"text/html": {"schema": {"type": "string"}}}},
}


def build_spec(app: Flask, *, wait_max: int = 30, engine: str = "rapidocr") -> dict[str, Any]:
    problems = catalogue()
    paths: dict[str, dict[str, Any]] = {}
    models: dict[type[BaseModel], str] = {Problem: "serialization"}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint == "static" or getattr(view, PAGE, False):
            continue
        item = paths.setdefault(_openapi_path(rule), {})
        params = _path_parameters(rule, view)
        if params:
            item["parameters"] = params
        found = contract_of(view)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if found is None:
                item[method.lower()] = _undocumented(rule, method)
            else:
                item[method.lower()] = _operation(found, getattr(view, REQUIRES_KEY, False), problems)
        if found is not None:
            models.update(dict(found.models()))
    _, top = models_json_schema(list(models.items()), ref_template=REF)  # type: ignore[arg-type]
    known = ENGINES[engine].tasks if engine in ENGINES else frozenset(TASK_NAMES)
    tasks = [t for t in TASK_NAMES if t in known]
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "ocrq", "version": "1", "description": _description(problems)},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [{"name": t} for t in TAGS],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key from `ocrq keys create`"}
            },
        },
    }
    filled: dict[str, Any] = _fill(spec, {
        "engine_tasks": {"enum": tasks, "description": "The tasks this deployment's engine can do (all: "
                         + ", ".join(TASK_NAMES) + ")"},
        "wait_max_s": {"maximum": wait_max},
    })
    return filled


# ------------------------------------------------------------------ operations
def _operation(c: Contract, keyed: bool, problems: dict[int, dict[str, str]]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": c.operation_id, "summary": c.summary, "tags": [c.tag]}
    if not keyed:
        op["security"] = []
    params = _parameters(c.query, "query") + _parameters(c.headers, "header")
    if params:
        op["parameters"] = params
    bodies = {media: {"schema": {"$ref": REF.format(model=m.__name__)}}
              for media, m in (("multipart/form-data", c.form), ("application/json", c.json)) if m is not None}
    if bodies:
        op["requestBody"] = {"required": True, "content": bodies}
    responses = {str(status): _reply(reply) for status, reply in c.replies.items()}
    statuses = set(c.errors) | (set(ALWAYS) if keyed else set())
    for status in sorted(statuses):
        responses[str(status)] = _problem(status, problems)
    if keyed:
        responses.update(SERVER_ERRORS)
    op["responses"] = responses
    return op


def _reply(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    media = {"application/json": reply.model} if reply.model is not None else dict(reply.media_types())
    if media:
        out["content"] = {
            kind: {"schema": {"$ref": REF.format(model=m.__name__)} if isinstance(m, type) else m}
            for kind, m in media.items()
        }
    if reply.headers:
        out["headers"] = {name: RESPONSE_HEADERS[name] for name in reply.headers}
    return out


def _problem(status: int, problems: dict[int, dict[str, str]]) -> dict[str, Any]:
    codes = problems.get(status, {})
    out: dict[str, Any] = {
        "description": "Problem: " + (", ".join(codes) if codes else "error"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
    }
    if status in (429, 503):
        out["headers"] = {"Retry-After": RESPONSE_HEADERS["Retry-After"]}
    return out


def _undocumented(rule: Rule, method: str) -> dict[str, Any]:
    return {
        "operationId": f"{rule.endpoint.replace('.', '_')}_{method.lower()}",
        "summary": f"{rule.endpoint} (no contract)",
        "tags": ["other"],
        "responses": {"default": {"description": "See the feature's documentation"}},
    }


def _description(problems: dict[int, dict[str, str]]) -> str:
    rows = [f"| {status} | `{code}` | {meaning} |" for status, codes in problems.items()
            for code, meaning in codes.items()]
    return ("Asynchronous OCR jobs. Errors are RFC 9457 problem+json with `type` = `urn:ocrq:problem:<code>`; "
            "see docs/api.md. The codes, by status:\n\n| status | code | meaning |\n|---|---|---|\n"
            + "\n".join(rows))


# ------------------------------------------------------------------ parameters
def _openapi_path(rule: Rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def _path_parameters(rule: Rule, view: Callable[..., Any]) -> list[dict[str, Any]]:
    fn = inspect.unwrap(view)
    out = []
    for name in re.findall(r"<(?:[^:<>]+:)?([^<>]+)>", rule.rule):
        hint = fn.__annotations__.get(name, str)
        if isinstance(hint, str):  # postponed (from __future__ import annotations): resolved as the view's module would
            hint = eval(hint, fn.__globals__)  # noqa: S307 - the project's own annotation, not input
        schema = TypeAdapter(hint).json_schema()
        out.append(_parameter(name, "path", True, schema))
    return out


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    return [_parameter(name, where, name in required, prop) for name, prop in schema["properties"].items()]


def _parameter(name: str, where: str, required: bool, schema: dict[str, Any]) -> dict[str, Any]:
    schema = {k: v for k, v in schema.items() if k != "title"}
    description = schema.pop("description", None)
    alternatives = schema.pop("anyOf", None)
    if alternatives:  # an absent parameter is None in the model; on the wire it is just absent
        schema = {**next(s for s in alternatives if s.get("type") != "null"), **schema}
    if schema.get("default", "") is None:
        del schema["default"]
    out: dict[str, Any] = {"name": name, "in": where, "required": required}
    if description:
        out["description"] = description
    out["schema"] = schema
    return out


def _fill(node: Any, values: dict[str, dict[str, Any]]) -> Any:
    """The deployment's values in the properties marked for them."""
    if isinstance(node, dict):
        out = {k: _fill(v, values) for k, v in node.items() if k != DEPLOYMENT_KEY}
        if DEPLOYMENT_KEY in node:
            out.update(values[node[DEPLOYMENT_KEY]])
        return out
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    return node


@bp.get("/openapi.json")
@contract("openapi", "ops", "This document",
          replies={200: Reply("OpenAPI 3.1", media={"application/json": {"type": "object"}})})
def openapi_json() -> ResponseReturnValue:
    cache = current_app.extensions.setdefault("ocrq_openapi", {})
    if "spec" not in cache:
        st = services().settings
        cache["spec"] = build_spec(current_app._get_current_object(),  # type: ignore[attr-defined]
                                   wait_max=st.wait_max_s, engine=st.engine)
    resp = jsonify(cache["spec"])
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp
