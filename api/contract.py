"""The typed contract of each view: what it reads and what it answers, validated here and published
by api/openapi.py, from the same pydantic models (shared/api_schemas/, one module per noun).

    @bp.get("/v1/jobs/<job_id>")
    @require_key
    @contract("getJob", "jobs", "A job; with ?wait=N, long-poll until it is final or N seconds pass",
              query=WaitQuery, replies={200: Reply("The job", JobOut, headers=("Retry-After",))},
              errors=(404, 410, 503))
    def get_job(job_id: JobId, query: WaitQuery) -> ResponseReturnValue: ...

The route's path and methods come from Flask's own decorator and its path parameters' schemas from
the view's annotations; the contract adds the query model (``query=``), the request headers'
(``headers=``), the body's (``json=``, ``form=``; both: chosen by Content-Type), the answers by
status (``replies``) and the statuses of the problems it may answer beside those of every keyed
route (``errors``). It sits below ``require_key``, so the key is checked first (401 before 422).

The wrapper validates the query and the body before the view runs and hands it the models as
``query=`` and ``body=``; request headers are documented from their model and checked where they
are used (the Idempotency-Key when the job is stored, so a bad file is still the first answer).
A refusal is a problem from the catalogue (api/problems.py), naming the fields in
``errors[]``: a value a model refuses with a code of its own (``shared.api_schemas.common.refuse``, or
the model's ``problem_codes`` for a field) is answered with that code; otherwise a body is 422
validation_error and a query 400 invalid_query.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from api.context import services
from api.problems import InvalidQuery, MalformedJson, MissingFile, problem_classes, raise_as
from shared import errors as domain
from shared.api_schemas.common import UploadedFile

F = TypeVar("F", bound=Callable[..., Any])
REQUIRES_KEY = "__requires_key__"  # set by api.auth.require_key on its wrapper
PAGE = "__page__"  # a page or asset for browsers (console, /docs): not an API operation
MediaSchema = type[BaseModel] | dict[str, Any]  # a model (a component) or a schema


@dataclass(frozen=True)
class Reply:
    """One answer of an operation: a JSON model, other media types, or no body (204)."""

    description: str
    model: type[BaseModel] | None = None
    # by media type; or a function giving them, read when the document is written (from a registry)
    media: Mapping[str, MediaSchema] | Callable[[], Mapping[str, MediaSchema]] = field(default_factory=dict)
    headers: tuple[str, ...] = ()  # names in api.openapi.RESPONSE_HEADERS

    def media_types(self) -> Mapping[str, MediaSchema]:
        return self.media() if callable(self.media) else self.media


@dataclass(frozen=True)
class Contract:
    operation_id: str
    tag: str
    summary: str
    replies: Mapping[int, Reply]
    errors: tuple[int, ...] = ()
    query: type[BaseModel] | None = None
    headers: type[BaseModel] | None = None
    json: type[BaseModel] | None = None
    form: type[BaseModel] | None = None

    def models(self) -> list[tuple[type[BaseModel], str]]:
        """The models of its bodies (validation) and answers (serialization): components of the document."""
        out = [(m, "validation") for m in (self.json, self.form) if m is not None]
        for reply in self.replies.values():
            out += [(m, "serialization") for m in (reply.model, *reply.media_types().values()) if isinstance(m, type)]
        return out


def contract(operation_id: str, tag: str, summary: str, *, replies: Mapping[int, Reply], errors: tuple[int, ...] = (),
             query: type[BaseModel] | None = None, headers: type[BaseModel] | None = None,
             json: type[BaseModel] | None = None, form: type[BaseModel] | None = None) -> Callable[[F], F]:
    declared = Contract(operation_id, tag, summary, replies, errors, query, headers, json, form)

    def decorate(view: F) -> F:
        if getattr(view, REQUIRES_KEY, False):
            raise TypeError(f"{view.__name__}: put @contract below @require_key, so the key is checked first")

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if declared.query is not None:
                kwargs["query"] = validate(declared.query, _first_values(request.args), InvalidQuery, text=True)
            if declared.json is not None or declared.form is not None:
                kwargs["body"] = _body(declared)
            return view(*args, **kwargs)

        wrapper.__contract__ = declared  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def for_browsers(view: F) -> F:
    """Marks a view that serves a page or an asset to browsers: it has no contract and no operation."""
    setattr(view, PAGE, True)
    return view


def contract_of(view: Callable[..., Any]) -> Contract | None:
    found: Contract | None = getattr(view, "__contract__", None)
    return found


# ------------------------------------------------------------------ reading the request
def single_valued_query() -> None:
    """A query parameter given twice is ambiguous (which `wait`?): refuse it rather than pick one.
    A blueprint's before_request hook (api/jobs.py, api/submit.py), so it holds for every view there."""
    for name, values in request.args.lists():
        if len(values) > 1:
            raise InvalidQuery(f"query parameter {name!r} given {len(values)} times")


def _first_values(args: Any) -> dict[str, Any]:
    return {k: args.get(k) for k in args.keys()}


def _body(c: Contract) -> BaseModel:
    if c.form is not None and request.mimetype == "multipart/form-data":
        return _form(c.form)
    if c.json is not None and (request.mimetype == "application/json" or c.form is None):
        data = request.get_json(silent=True)
        if data is None:
            raise MalformedJson("the request body is not JSON (send Content-Type: application/json)")
        if not isinstance(data, dict):
            raise MalformedJson("the request body must be a JSON object")
        return validate(c.json, data, domain.ValidationFailed)
    raise domain.UnsupportedMedia("send multipart/form-data (a 'file' part and form fields) or application/json")


def _form(model: type[BaseModel]) -> BaseModel:
    files = [name for name, f in model.model_fields.items() if any(isinstance(m, UploadedFile) for m in f.metadata)]
    for name in files:
        if name not in request.files:
            raise MissingFile(f"send the file as multipart/form-data field {name!r}")
    unknown = sorted(set(request.form.keys()) - set(model.model_fields))
    if unknown:
        raise_as(domain.ValidationFailed, f"{unknown[0]}: unknown form field",
                 [{"field": f, "message": "unknown form field"} for f in unknown])
    data: dict[str, Any] = _first_values(request.form)
    data.update({name: request.files[name] for name in files})
    return validate(model, data, domain.ValidationFailed, text=True)


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: dict[str, Any], default: type[domain.OcrqError], *, text: bool = False) -> M:
    """``model`` from ``data``, or the problem that names what is wrong (see the module's docstring).
    ``text``: the values came as text (a query string, form fields), and the messages say so."""
    try:
        return model.model_validate(data, context={"settings": services().settings})
    except ValidationError as err:
        _refuse(model, err, default, text)
        raise  # not reached: _refuse raises


def _refuse(model: type[BaseModel], err: ValidationError, default: type[domain.OcrqError], text: bool) -> None:
    own_codes: dict[str, str] = getattr(model, "problem_codes", {})
    classes = problem_classes()
    items: list[tuple[str | None, bool, dict[str, str]]] = []
    for e in err.errors(include_url=False):
        where = ".".join(str(p) for p in e.get("loc", ())) or (e.get("ctx") or {}).get("field", "")
        custom = e["type"] in classes
        code = e["type"] if custom else own_codes.get(str(e["loc"][0])) if e.get("loc") else None
        items.append((code, custom, {"field": where, "message": _message(e, text)}))
    for code, custom, item in items:
        if code is not None:  # a code of its own wins over the location's default
            detail = item["message"] if custom or not item["field"] else f"{item['field']}: {item['message']}"
            raise_as(classes[code], detail, [item])
    found = [item for _, _, item in items]
    first = found[0]
    raise_as(default, f"{first['field']}: {first['message']}" if first["field"] else first["message"], found)


def _message(e: Any, text: bool) -> str:
    message: str = e.get("msg", "invalid").removeprefix("Value error, ")
    if text and e["type"] == "literal_error":
        return "must be one of: " + ", ".join(re.findall(r"'([^']*)'", e["ctx"]["expected"]))
    if e["type"] == "dict_type":
        return "must be a JSON object"
    if text and e["type"] == "extra_forbidden":
        return "unknown query parameter"
    return message
