"""The web console: a single page at / for people who do not write code.

The page is static HTML, CSS and plain JavaScript under api/static/console/; everything it shows
comes from the public REST API (/v1/...) with the API key the user signs in with, sent as
``Authorization: Bearer`` by the page itself. This module only serves the files, with a strict
Content-Security-Policy: no inline script, no third-party origin, no framing.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.security import safe_join

from api.context import services
from api.contract import for_browsers
from shared.engines import engine_tasks
from shared.errors import RESCAN_MESSAGES, NotFound
from shared.jobs.task_spec import TASK_NAMES
from shared.results.formats import FORMATS
from shared.reviews.corrections import check_gs1
from shared.reviews.model import InvalidGs1

STATIC = Path(__file__).resolve().parent / "static" / "console"

bp = Blueprint("console", __name__)

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def _harden(resp: Response, *, cache: str) -> Response:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["Cache-Control"] = cache
    return resp


@bp.get("/")
@for_browsers
def index() -> ResponseReturnValue:
    resp = send_from_directory(STATIC, "index.html", mimetype="text/html")
    return _harden(resp, cache="no-cache")


@bp.get("/console/config.json")
@for_browsers
def config() -> ResponseReturnValue:
    """What the page adapts to: the engine's tasks, the long-poll limit, which optional APIs exist, the
    result formats (shared/results/formats.py: `download` ones get a button on a finished job), the
    photo-quality reasons in words.

    Public like /healthz: it holds nothing about any tenant or job.
    """
    s = services().settings
    views = current_app.view_functions  # by endpoint: which optional blueprints this gateway serves
    resp = jsonify(
        engine=s.engine,
        tasks=[t for t in TASK_NAMES if t in engine_tasks(s.engine)],
        wait_max_s=s.wait_max_s,
        max_upload_bytes=s.max_upload_bytes,
        batches={"list": "batches.list_batches" in views, "get": "batches.get_batch" in views},
        formats=[{"name": f.name, "label": f.label, "suffix": f.suffix, "media_type": f.media_type,
                  "binary": f.binary, "download": f.console} for f in FORMATS.values()],
        # the photo-quality reasons in words, as a quality=require refusal says them
        quality_words=RESCAN_MESSAGES,
    )
    return _harden(resp, cache="no-store")


@bp.get("/console/gs1-check")
@for_browsers
def gs1_check() -> ResponseReturnValue:
    """The review screen's live check of one corrected GS1 value, by the rules a save applies
    (shared/reviews/corrections.check_gs1: syntax, check digit, date), so the page copies no AI table.

    Public like /console/config.json: it reads nothing but its two query values.
    """
    ai = request.args.get("ai", "")
    value = request.args.get("value", "")
    # the bounds of Gs1Correction (shared/api_schemas/reviews.py): a save refuses anything else
    if not re.fullmatch(r"[0-9]{2,4}", ai):
        answer = {"valid": False, "message": "the application identifier is 2 to 4 digits"}
    elif not 1 <= len(value) <= 90:
        answer = {"valid": False, "message": "a GS1 value is 1 to 90 characters"}
    else:
        try:
            parsed = check_gs1(ai, value)
        except InvalidGs1 as err:
            answer = {"valid": False, "message": str(err.errors[0]["message"]) if err.errors else str(err)}
        else:
            element = (parsed.get("elements") or [{}])[0]
            answer = {"valid": True, "message": None, "title": element.get("title"), "value": element.get("value")}
    return _harden(jsonify(answer), cache="no-store")


@bp.get("/console/<path:filename>")
@for_browsers
def asset(filename: str) -> ResponseReturnValue:
    path = safe_join(str(STATIC), filename)  # None for anything that would leave STATIC
    if path is None or filename == "index.html" or not Path(path).is_file():
        raise NotFound(f"no console file {filename!r}")
    resp = send_from_directory(STATIC, filename)
    if filename.endswith(".js"):
        resp.mimetype = "text/javascript"
    # Revalidated on every load (ETag / Last-Modified), so an upgrade is picked up at once.
    return _harden(resp, cache="no-cache")
