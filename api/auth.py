"""Bearer API keys: every /v1 request is authenticated and rate-limited per key."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from api.context import services
from api.contract import REQUIRES_KEY
from api.problems import RateLimited, Unauthorized
from shared import errors

F = TypeVar("F", bound=Callable[..., Any])


def require_key(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'",
                               headers={"WWW-Authenticate": 'Bearer realm="ocrq"'})
        key = services().keys.authenticate(token.strip())
        if key is None:
            raise Unauthorized("the API key is unknown or revoked",
                               headers={"WWW-Authenticate": 'Bearer realm="ocrq", error="invalid_token"'})
        wait = services().limiter.take(key.id)
        if wait:
            raise RateLimited(f"too many requests for this API key; retry in {int(wait)} s",
                              headers={"Retry-After": str(int(wait))})
        g.api_key = key
        return view(*args, **kwargs)

    setattr(wrapper, REQUIRES_KEY, True)  # the document marks the other routes public (security: [])
    return wrapper  # type: ignore[return-value]


class MissingScope(errors.Forbidden):
    """The API key lacks the scope this route needs (submit, review or admin): use a key created with it."""

    code = "missing_scope"


def require_scope(scope: str) -> Callable[[F], F]:
    """Below require_key: the key must carry ``scope`` (keys from before scopes carry all three)."""

    def deco(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not g.api_key.allows(scope):
                raise MissingScope(f"this API key ({g.api_key.id}) has the scopes {', '.join(g.api_key.scopes)}; "
                                   f"this route needs '{scope}' (ocrq keys create --scope {scope})")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco
