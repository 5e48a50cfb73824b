"""The RFC 9457 answer of a refused request, for the gateway tests that use Flask's test client."""

from __future__ import annotations

from typing import Any

from werkzeug.test import TestResponse


def problem(resp: TestResponse, status: int, code: str) -> dict[str, Any]:
    """The problem+json body of ``resp``, asserted to carry ``status`` and the problem type ``code``."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body: dict[str, Any] = resp.get_json()
    assert body["type"] == f"urn:ocrq:problem:{code}", body
    return body
