"""What every route's contract shares: the problem document, health, and the value types that
query strings and form fields are parsed with.

Query strings and form fields arrive as text: the types below parse that text the way the gateway
always has (``needs_review=TRUE``, ``purge=yes``, ISO 8601 with ``Z``) while their JSON schema says
what a client should send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, GetJsonSchemaHandler, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# A schema property carrying this key gets a value this deployment decides (api/openapi.py fills it):
# "engine_tasks" (the tasks the configured engine can do), "wait_max_s" (the long-poll cap).
DEPLOYMENT_KEY = "x-ocrq-deployment"


def deployment(what: str) -> dict[str, Any]:
    return {DEPLOYMENT_KEY: what}


@dataclass(frozen=True)
class RegistryEnum:
    """Annotated metadata: the value's JSON schema `enum` is a registry's names, read each time a
    schema is written (so a format registered after this model was defined is still listed)."""

    names: Callable[[], Iterable[str]]

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out["enum"] = list(self.names())
        return out


def refuse(code: str, message: str, field: str = "") -> PydanticCustomError:
    """A validation error answered with its own problem code (declared in the problem catalogue)
    instead of the location's default (validation_error for bodies, invalid_query for queries);
    ``field`` names the field when the error is raised for the whole model."""
    return PydanticCustomError(code, "{message}", {"message": message, "field": field})


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Health(BaseModel):
    status: str
    checks: dict[str, str] = Field(default_factory=dict)


# ------------------------------------------------------------------ values read from text
def iso_ms(value: Any) -> Any:
    """An ISO 8601 timestamp (``Z`` or an offset; none is UTC) as epoch milliseconds."""
    if not isinstance(value, str):
        return value
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _lenient_flag(value: Any) -> Any:
    return value.lower() in ("1", "true", "yes") if isinstance(value, str) else value


def _true_or_false(value: Any) -> Any:
    if isinstance(value, str):
        if value.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        return value.lower() == "true"
    return value


def _whole_number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise ValueError("must be an integer") from None
    return value


def _digits(value: Any) -> Any:
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise ValueError("must be a whole number: 1, 2, 3, ...")
        return int(value)
    return value


# epoch ms, from ISO 8601 text
IsoTimestamp = Annotated[int, BeforeValidator(iso_ms), WithJsonSchema({"type": "string", "format": "date-time"})]
# true/1/yes (any case) is true, anything else false: documented as the values a client should send
Flag = Annotated[bool, BeforeValidator(_lenient_flag),
                 WithJsonSchema({"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]})]


def off() -> Any:
    """The default of a Flag: false (documented as the text a client would send)."""
    return Field(default=False, json_schema_extra={"default": "false"})


# exactly true or false, any case
Boolean = Annotated[bool, BeforeValidator(_true_or_false)]
# int() of the text: "20", " 20", "+20"
WholeNumber = Annotated[int, BeforeValidator(_whole_number)]
# ASCII digits only
Digits = Annotated[int, BeforeValidator(_digits)]


class UploadedFile:
    """Marks a form field that is a file part (read from ``request.files``, never from the form)."""


Upload = Annotated[Any, UploadedFile(),
                   WithJsonSchema({"type": "string", "contentMediaType": "application/octet-stream"})]
