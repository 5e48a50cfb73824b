"""Liveness and readiness."""

from __future__ import annotations

import os

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from api.context import services
from api.contract import Reply, contract
from shared.api_schemas.common import Health

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@contract("healthz", "ops", "Liveness", replies={200: Reply("Alive", Health)})
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
@contract("readyz", "ops", "Readiness (Redis and storage reachable)",
          replies={200: Reply("Ready", Health), 503: Reply("Not ready", Health)})
def readyz() -> ResponseReturnValue:
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
    resp = jsonify(status="ok" if ok else "unavailable", checks=checks)
    # `ocrq dev` starts each gateway with a fresh token and trusts only a /readyz that echoes it,
    # so another server already answering on the port is never taken for its own.
    token = os.environ.get("OCRQ_INSTANCE_TOKEN")
    if token:
        resp.headers["Ocrq-Instance"] = token
    return resp, (200 if ok else 503)
