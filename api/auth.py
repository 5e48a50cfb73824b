"""Bearer API keys: every /v1 request is authenticated and rate-limited per key."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from api.context import services
from api.contract import REQUIRES_KEY
from api.problems import RateLimited, Unauthorized

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
