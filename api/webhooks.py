"""/v1/webhooks: registered endpoints, the default secret, replay; /v1/jobs/<id>/deliveries.

The gateway only writes to the outbox in Redis; the webhook worker's scheduler loop sends what
comes due, so nothing here ever connects to a customer URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.routing import BaseConverter

from api.auth import require_key
from api.context import services, tenant
from api.inputs import find_job
from api.problems import ApiProblem
from api.webhook_guard import check_webhook_url
from shared.jobs import Job, iso_ms
from shared.webhooks.endpoints import (
    EVENT_TYPES,
    JOB_TARGET,
    MAX_ENDPOINTS_PER_TENANT,
    Endpoint,
    EndpointStore,
)
from shared.webhooks.outbox import Outbox

bp = Blueprint("webhooks", __name__)


class EndpointIdConverter(BaseConverter):
    """`ep_…` ids only, so /v1/webhooks/default-secret is never also read as an endpoint id."""

    regex = r"ep_[A-Za-z0-9_-]{1,64}"


# Recorded before the routes below, so the converter exists when their rules are added.
bp.record_once(lambda state: state.app.url_map.converters.setdefault("ep_id", EndpointIdConverter))


def _outbox() -> Outbox:
    return services().outbox


def _endpoints() -> EndpointStore:
    return EndpointStore(services().redis)


def render_endpoint(ep: Endpoint, *, secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": ep.id,
        "url": ep.url,
        "events": ep.events,
        "description": ep.description,
        "created_at": iso_ms(ep.created_at),
        "disabled": ep.disabled,
        "disabled_reason": ep.disabled_reason,
        "disabled_at": iso_ms(ep.disabled_at),
        "secret_rotation_ends_at": iso_ms(ep.previous_until) if len(ep.signing_secrets()) > 1 else None,
    }
    if secret is not None:
        out["secret"] = secret  # only in the answer that creates it
    return out


def _find_endpoint(ep_id: str) -> Endpoint:
    ep = _endpoints().get_for_tenant(ep_id, tenant())
    if ep is None:
        raise ApiProblem(404, "webhook_not_found", f"no webhook endpoint {ep_id}")
    return ep


# ---------------------------------------------------------------- endpoints
@bp.post("/v1/webhooks")
@require_key
def create_endpoint() -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiProblem(400, "malformed_json", "send a JSON object: {\"url\": ..., \"events\": [...]}")
    unknown = set(body) - {"url", "events", "description"}
    if unknown:
        field = sorted(unknown)[0]
        raise ApiProblem(
            422, "validation_error", f"{field}: unknown field", errors=[{"field": field, "message": "unknown field"}]
        )
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise ApiProblem(422, "validation_error", "url: required", errors=[{"field": "url", "message": "required"}])
    events = body.get("events", list(EVENT_TYPES))
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise ApiProblem(
            422,
            "validation_error",
            "events: a non-empty list of event types",
            errors=[{"field": "events", "message": "a non-empty list of event types"}],
        )
    bad = [e for e in events if e not in EVENT_TYPES]
    if bad:
        raise ApiProblem(
            422,
            "validation_error",
            f"events: unknown event type {bad[0]!r}; use {', '.join(EVENT_TYPES)}",
            errors=[{"field": "events", "message": f"unknown event type {bad[0]!r}"}],
        )
    description = body.get("description") or ""
    if not isinstance(description, str) or len(description) > 200:
        raise ApiProblem(
            422,
            "validation_error",
            "description: a string of at most 200 characters",
            errors=[{"field": "description", "message": "at most 200 characters"}],
        )
    check_webhook_url(url, field="url", ensure_secret=False)
    store = _endpoints()
    if store.count(tenant()) >= MAX_ENDPOINTS_PER_TENANT:
        raise ApiProblem(409, "too_many_webhooks", f"at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints per tenant")
    ep = store.create(tenant(), url, list(dict.fromkeys(events)), description)
    resp = jsonify(render_endpoint(ep, secret=ep.secret))
    resp.status_code = 201
    resp.headers["Location"] = f"/v1/webhooks/{ep.id}"
    return resp


@bp.get("/v1/webhooks")
@require_key
def list_endpoints() -> ResponseReturnValue:
    return jsonify(items=[render_endpoint(ep) for ep in _endpoints().list(tenant())])


@bp.get("/v1/webhooks/<ep_id:ep_id>")
@require_key
def get_endpoint(ep_id: str) -> ResponseReturnValue:
    return jsonify(render_endpoint(_find_endpoint(ep_id)))


@bp.delete("/v1/webhooks/<ep_id:ep_id>")
@require_key
def delete_endpoint(ep_id: str) -> ResponseReturnValue:
    _endpoints().delete(_find_endpoint(ep_id))
    return Response(status=204)


@bp.post("/v1/webhooks/<ep_id:ep_id>/rotate-secret")
@require_key
def rotate_endpoint_secret(ep_id: str) -> ResponseReturnValue:
    store = _endpoints()
    ep = _find_endpoint(ep_id)
    fresh = store.rotate(ep)
    return jsonify(render_endpoint(store.get(ep.id) or ep, secret=fresh))


@bp.post("/v1/webhooks/<ep_id:ep_id>/replay")
@require_key
def replay_endpoint(ep_id: str) -> ResponseReturnValue:
    ep = _find_endpoint(ep_id)
    since_text = request.args.get("since")
    if not since_text:
        raise ApiProblem(400, "invalid_query", "since is required: an ISO 8601 timestamp")
    since_ms = _parse_iso(since_text, "since")
    include_delivered = request.args.get("include_delivered", "").lower() in ("1", "true", "yes")
    ob = _outbox()
    store = _endpoints()
    if ep.disabled:
        store.enable(ep.id)  # replaying is the tenant saying the receiver is fixed
    count = 0
    for event in ob.events_since(tenant(), since_ms):
        if not ep.wants(event.type):
            continue
        dlv = ob.delivery(event.id, ep.id)
        if dlv.get("status") == "delivered" and not include_delivered:
            continue
        if dlv.get("status") == "pending" and ob.due_score(event.id, ep.id) is not None:
            continue  # already on its way
        ob.requeue(event.id, ep.id, ep.url)
        count += 1
    return jsonify(endpoint_id=ep.id, since=iso_ms(since_ms), replayed=count), 202


# ---------------------------------------------------------------- default secret
@bp.post("/v1/webhooks/default-secret")
@require_key
def reveal_default_secret() -> ResponseReturnValue:
    secret = _endpoints().reveal_default_secret(tenant())
    if secret is None:
        raise ApiProblem(
            409,
            "secret_already_revealed",
            "the default webhook secret was already shown once; "
            "POST /v1/webhooks/default-secret/rotate to get a new one",
        )
    return jsonify(secret=secret, note="shown once; signs deliveries to each job's own webhook_url"), 201


@bp.post("/v1/webhooks/default-secret/rotate")
@require_key
def rotate_default_secret() -> ResponseReturnValue:
    secret = _endpoints().rotate_default_secret(tenant())
    return jsonify(secret=secret, note="shown once; the previous secret keeps signing for 24 h"), 201


# ---------------------------------------------------------------- per job
def _deliveries_doc(job: Job) -> dict[str, Any]:
    ob = _outbox()
    events, deliveries = [], []
    for e in ob.events_of(job.id):
        events.append({"webhook_id": e.id, "type": e.type, "sequence": e.sequence, "created_at": iso_ms(e.created_at)})
        for d in ob.deliveries_of(e.id):
            deliveries.append(
                {
                    "webhook_id": e.id,
                    "type": e.type,
                    "endpoint_id": None if d.get("ep") == JOB_TARGET else d.get("ep"),
                    "target": "job_webhook_url" if d.get("ep") == JOB_TARGET else "endpoint",
                    "url": d.get("url"),
                    "status": d.get("status"),
                    "attempts": int(d.get("attempts") or 0),
                    "last_status_code": int(d["last_status_code"]) if d.get("last_status_code") else None,
                    "last_error": d.get("last_error") or None,
                    "next_attempt_at": iso_ms(int(d["next_attempt_at"]))
                    if d.get("next_attempt_at") and d.get("status") == "pending"
                    else None,
                    "delivered_at": iso_ms(int(d["delivered_at"])) if d.get("delivered_at") else None,
                }
            )
    attempts = ob.attempts(job.id)
    for a in attempts:
        if a.get("endpoint_id") == JOB_TARGET:
            a["endpoint_id"] = None
    return {"job_id": job.id, "events": events, "deliveries": deliveries, "attempts": attempts}


@bp.get("/v1/jobs/<job_id>/deliveries")
@require_key
def job_deliveries(job_id: str) -> ResponseReturnValue:
    return jsonify(_deliveries_doc(find_job(job_id)))


@bp.post("/v1/jobs/<job_id>/deliveries/redeliver")
@require_key
def redeliver(job_id: str) -> ResponseReturnValue:
    """Send every event of this job again to every target it went to, with the original webhook-id."""
    job = find_job(job_id)
    ob = _outbox()
    count = 0
    for e in ob.events_of(job.id):
        for d in ob.deliveries_of(e.id):
            ep_id = d.get("ep") or ""
            if ep_id != JOB_TARGET:
                ep = ob.endpoints.get(ep_id)
                if ep is None:
                    continue
                if ep.disabled:
                    ob.endpoints.enable(ep.id)
                url = ep.url
            else:
                url = d.get("url") or ""
            ob.requeue(e.id, ep_id, url)
            count += 1
    if not count:
        raise ApiProblem(409, "nothing_to_redeliver", f"job {job_id} has no webhook events (yet)")
    return jsonify(job_id=job.id, redelivered=count), 202


def _parse_iso(text: str, name: str) -> int:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiProblem(400, "invalid_query", f"{name} must be an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


# ---------------------------------------------------------------- OpenAPI (merged into /openapi.json)
def openapi_paths() -> dict[str, Any]:
    from api.openapi import error_responses, json_response, operation

    ts = {"type": ["string", "null"], "description": "ISO 8601, UTC"}
    endpoint = {
        "type": "object",
        "required": ["id", "url", "events", "disabled"],
        "properties": {
            "id": {"type": "string"},
            "url": {"type": "string"},
            "events": {"type": "array", "items": {"type": "string", "enum": list(EVENT_TYPES)}},
            "description": {"type": "string"},
            "created_at": ts,
            "disabled": {"type": "boolean"},
            "disabled_reason": {"type": ["string", "null"]},
            "disabled_at": ts,
            "secret_rotation_ends_at": ts,
            "secret": {"type": "string", "description": "Only in the answer that creates or rotates it"},
        },
    }
    secret = {
        "type": "object",
        "required": ["secret"],
        "properties": {"secret": {"type": "string"}, "note": {"type": "string"}},
    }
    ep_id = {
        "name": "ep_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^" + EndpointIdConverter.regex + "$"},
    }
    job_id = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    }
    deliveries = {
        "type": "object",
        "required": ["job_id", "events", "deliveries", "attempts"],
        "properties": {
            "job_id": {"type": "string"},
            "events": {"type": "array", "items": {"type": "object"}},
            "deliveries": {"type": "array", "items": {"type": "object"}},
            "attempts": {
                "type": "array",
                "items": {"type": "object"},
                "description": "Every attempt: time, endpoint, status code, latency, error",
            },
        },
    }
    op = partial(operation, "webhooks")

    return {
        "/v1/webhooks": {
            "post": op(
                "createWebhook",
                "Register an endpoint; its signing secret is shown once, here",
                {"201": json_response(endpoint, "Created"), **error_responses(400, 409, 415, 422)},
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["url"],
                                "additionalProperties": False,
                                "properties": {
                                    "url": {"type": "string", "maxLength": 2048},
                                    "events": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {"type": "string", "enum": list(EVENT_TYPES)},
                                    },
                                    "description": {"type": "string", "maxLength": 200},
                                },
                            }
                        }
                    },
                },
            ),
            "get": op(
                "listWebhooks",
                "The tenant's endpoints",
                {
                    "200": json_response(
                        {"type": "object", "properties": {"items": {"type": "array", "items": endpoint}}}, "Endpoints"
                    ),
                    **error_responses(),
                },
            ),
        },
        "/v1/webhooks/{ep_id}": {
            "parameters": [ep_id],
            "get": op(
                "getWebhook",
                "One endpoint, with why it was disabled if it was",
                {"200": json_response(endpoint, "The endpoint"), **error_responses(404)},
            ),
            "delete": op(
                "deleteWebhook", "Delete an endpoint", {"204": {"description": "Deleted"}, **error_responses(404)}
            ),
        },
        "/v1/webhooks/{ep_id}/rotate-secret": {
            "parameters": [ep_id],
            "post": op(
                "rotateWebhookSecret",
                "A new secret; the old one keeps signing during the overlap",
                {"200": json_response(endpoint, "The endpoint with its new secret"), **error_responses(404)},
            ),
        },
        "/v1/webhooks/{ep_id}/replay": {
            "parameters": [ep_id],
            "post": op(
                "replayWebhook",
                "Resend the tenant's events since a time to this endpoint, original webhook-ids",
                {
                    "202": json_response(
                        {
                            "type": "object",
                            "properties": {
                                "endpoint_id": {"type": "string"},
                                "since": ts,
                                "replayed": {"type": "integer"},
                            },
                        },
                        "Queued",
                    ),
                    **error_responses(404),
                },
                parameters=[
                    {
                        "name": "since",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "format": "date-time"},
                    },
                    {
                        "name": "include_delivered",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]},
                    },
                ],
            ),
        },
        "/v1/webhooks/default-secret": {
            "post": op(
                "revealDefaultWebhookSecret",
                "The secret that signs deliveries to jobs' own webhook_url (once)",
                {"201": json_response(secret, "The secret"), **error_responses(409)},
            ),
        },
        "/v1/webhooks/default-secret/rotate": {
            "post": op(
                "rotateDefaultWebhookSecret",
                "A new default secret; the previous one signs for 24 h more",
                {"201": json_response(secret, "The new secret"), **error_responses()},
            ),
        },
        "/v1/jobs/{job_id}/deliveries": {
            "parameters": [job_id],
            "get": op(
                "getJobDeliveries",
                "The job's webhook events, deliveries and every attempt",
                {"200": json_response(deliveries, "The delivery log"), **error_responses(404, 410)},
            ),
        },
        "/v1/jobs/{job_id}/deliveries/redeliver": {
            "parameters": [job_id],
            "post": op(
                "redeliverJob",
                "Send the job's events again, with their original webhook-ids",
                {
                    "202": json_response(
                        {
                            "type": "object",
                            "properties": {"job_id": {"type": "string"}, "redelivered": {"type": "integer"}},
                        },
                        "Queued",
                    ),
                    **error_responses(404, 409, 410),
                },
            ),
        },
    }
