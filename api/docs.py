"""GET /docs: the OpenAPI document, browsable (Swagger UI). Every asset is served from here: no CDN.

Swagger UI's files come from the flask-swagger-ui wheel (its `dist/` folder); only the page and
its start script are ours, so the policy can forbid inline script like the console's does.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, send_from_directory
from flask.typing import ResponseReturnValue

from api.contract import for_browsers
from shared.errors import NotFound

bp = Blueprint("docs", __name__)

OURS = Path(__file__).resolve().parent / "static" / "docs"
VENDOR_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",  # Swagger UI sets element styles at run time
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])


def _vendor_dir() -> Path:
    return Path(str(files("flask_swagger_ui") / "dist"))


def _harden(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@bp.get("/docs")
@for_browsers
def page() -> ResponseReturnValue:
    return _harden(send_from_directory(OURS, "index.html", mimetype="text/html"))


@bp.get("/docs/init.js")
@for_browsers
def init_script() -> ResponseReturnValue:
    return _harden(send_from_directory(OURS, "init.js", mimetype="text/javascript"))


@bp.get("/docs/assets/<name>")
@for_browsers
def asset(name: str) -> ResponseReturnValue:
    if name not in VENDOR_FILES:
        raise NotFound(f"no asset {name}")
    return _harden(send_from_directory(_vendor_dir(), name))
