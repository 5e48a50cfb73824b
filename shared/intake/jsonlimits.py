"""JSON from clients, parsed with a nesting bound: Python's parser recurses, so a body of 100,000
``[`` would otherwise end in RecursionError (a 500) instead of a clear refusal."""

from __future__ import annotations

import json
import re
from typing import Any

from shared.errors import InvalidRequest

MAX_DEPTH = 64
# A string (escapes included) is skipped whole; only brackets outside strings count.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class JsonTooDeep(InvalidRequest):
    """The JSON is nested more than 64 levels deep."""

    code = "json_too_deep"


def depth(data: bytes | str) -> int:
    raw = data.encode() if isinstance(data, str) else data
    level = deepest = 0
    for m in _TOKENS.finditer(raw):
        tok = m.group()
        if tok in (b"[", b"{"):
            level += 1
            deepest = max(deepest, level)
        elif tok in (b"]", b"}"):
            level -= 1
    return deepest


def loads(data: bytes | str, *, what: str = "the JSON", max_depth: int = MAX_DEPTH) -> Any:
    """json.loads, refusing a document nested deeper than ``max_depth`` (JsonTooDeep, a 400)."""
    if depth(data) > max_depth:
        raise JsonTooDeep(f"{what} is nested more than {max_depth} levels deep")
    return json.loads(data)
