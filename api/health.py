"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify

from api.app import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    s = services()
    checks: dict[str, str] = {}
    try:
        s.redis.ping()
        checks["redis"] = "ok"
    except Exception as err:
        checks["redis"] = f"error: {type(err).__name__}"
    try:
        s.blobs.ping()
        checks["storage"] = "ok"
    except Exception as err:
        checks["storage"] = f"error: {err}"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ok else "unavailable", checks=checks), (200 if ok else 503)
