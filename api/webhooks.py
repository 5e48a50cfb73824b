"""/v1/webhooks: registered endpoints, the default secret, replay; /v1/jobs/<id>/deliveries.

The gateway only writes to the outbox in Redis; the webhook worker's scheduler loop sends what
comes due, so nothing here ever connects to a customer URL.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from werkzeug.routing import BaseConverter

from api.auth import require_key, require_scope
from api.context import services, tenant
from api.contract import Reply, contract
from api.inputs import find_job
from api.webhook_guard import check_webhook_url
from shared import errors
from shared.api_schemas.jobs import JobId
from shared.api_schemas.webhooks import (
    ENDPOINT_ID_REGEX,
    Delivery,
    DeliveryEvent,
    DeliveryLog,
    EndpointCreate,
    EndpointId,
    EndpointList,
    EndpointOut,
    RedeliverOut,
    ReplayOut,
    ReplayQuery,
    SecretOut,
)
from shared.jobs import Job, iso_ms
from shared.webhooks.endpoints import JOB_TARGET, MAX_ENDPOINTS_PER_TENANT, Endpoint, EndpointStore
from shared.webhooks.outbox import Outbox

bp = Blueprint("webhooks", __name__)


class EndpointIdConverter(BaseConverter):
    """`ep_…` ids only, so /v1/webhooks/default-secret is never also read as an endpoint id."""

    regex = ENDPOINT_ID_REGEX


# Recorded before the routes below, so the converter exists when their rules are added.
@bp.record_once
def _add_converter(state: BlueprintSetupState) -> None:
    state.app.url_map.converters.setdefault("ep_id", EndpointIdConverter)


class WebhookNotFound(errors.NotFound):
    """No webhook endpoint with this id for this tenant."""

    code = "webhook_not_found"


class TooManyWebhooks(errors.Conflict):
    """The tenant has as many endpoints as it may register."""

    code = "too_many_webhooks"


class SecretAlreadyRevealed(errors.Conflict):
    """The default secret is shown once; rotate it to see a new one."""

    code = "secret_already_revealed"


class NothingToRedeliver(errors.Conflict):
    """The job has no webhook events (yet)."""

    code = "nothing_to_redeliver"


def _outbox() -> Outbox:
    return services().outbox


def _endpoints() -> EndpointStore:
    return EndpointStore(services().redis)


def render_endpoint(ep: Endpoint, *, secret: str | None = None) -> dict[str, Any]:
    out = EndpointOut(
        id=ep.id,
        url=ep.url,
        events=ep.events,
        description=ep.description,
        created_at=iso_ms(ep.created_at),
        disabled=ep.disabled,
        disabled_reason=ep.disabled_reason,
        disabled_at=iso_ms(ep.disabled_at),
        secret_rotation_ends_at=iso_ms(ep.previous_until) if len(ep.signing_secrets()) > 1 else None,
    )
    if secret is not None:
        out.secret = secret  # only in the answers that create or rotate it
    doc: dict[str, Any] = out.model_dump(mode="json", exclude_unset=True)
    return doc


def _find_endpoint(ep_id: str) -> Endpoint:
    ep = _endpoints().get_for_tenant(ep_id, tenant())
    if ep is None:
        raise WebhookNotFound(f"no webhook endpoint {ep_id}")
    return ep


# ---------------------------------------------------------------- endpoints
@bp.post("/v1/webhooks")
@require_key
@require_scope("admin")
@contract("createWebhook", "webhooks", "Register an endpoint; its signing secret is shown once, here",
          json=EndpointCreate, replies={201: Reply("Created", EndpointOut, headers=("Location",))},
          errors=(400, 403, 409, 415, 422))
def create_endpoint(body: EndpointCreate) -> ResponseReturnValue:
    check_webhook_url(body.url, field="url", ensure_secret=False)
    store = _endpoints()
    if store.count(tenant()) >= MAX_ENDPOINTS_PER_TENANT:
        raise TooManyWebhooks(f"at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints per tenant")
    ep = store.create(tenant(), body.url, list(body.events), body.description or "")
    resp = jsonify(render_endpoint(ep, secret=ep.secret))
    resp.status_code = 201
    resp.headers["Location"] = f"/v1/webhooks/{ep.id}"
    return resp


@bp.get("/v1/webhooks")
@require_key
@contract("listWebhooks", "webhooks", "The tenant's endpoints", replies={200: Reply("Endpoints", EndpointList)})
def list_endpoints() -> ResponseReturnValue:
    return jsonify(items=[render_endpoint(ep) for ep in _endpoints().list(tenant())])


@bp.get("/v1/webhooks/<ep_id:ep_id>")
@require_key
@contract("getWebhook", "webhooks", "One endpoint, with why it was disabled if it was",
          replies={200: Reply("The endpoint", EndpointOut)}, errors=(404,))
def get_endpoint(ep_id: EndpointId) -> ResponseReturnValue:
    return jsonify(render_endpoint(_find_endpoint(ep_id)))


@bp.delete("/v1/webhooks/<ep_id:ep_id>")
@require_key
@require_scope("admin")
@contract("deleteWebhook", "webhooks", "Delete an endpoint", replies={204: Reply("Deleted")}, errors=(403, 404))
def delete_endpoint(ep_id: EndpointId) -> ResponseReturnValue:
    _endpoints().delete(_find_endpoint(ep_id))
    return Response(status=204)


@bp.post("/v1/webhooks/<ep_id:ep_id>/rotate-secret")
@require_key
@require_scope("admin")
@contract("rotateWebhookSecret", "webhooks", "A new secret; the old one keeps signing during the overlap",
          replies={200: Reply("The endpoint with its new secret", EndpointOut)}, errors=(403, 404))
def rotate_endpoint_secret(ep_id: EndpointId) -> ResponseReturnValue:
    store = _endpoints()
    ep = _find_endpoint(ep_id)
    fresh = store.rotate(ep)
    return jsonify(render_endpoint(store.get(ep.id) or ep, secret=fresh))


@bp.post("/v1/webhooks/<ep_id:ep_id>/replay")
@require_key
@require_scope("admin")
@contract("replayWebhook", "webhooks", "Resend the tenant's events since a time to this endpoint, original "
          "webhook-ids", query=ReplayQuery, replies={202: Reply("Queued", ReplayOut)}, errors=(403, 404))
def replay_endpoint(ep_id: EndpointId, query: ReplayQuery) -> ResponseReturnValue:
    ep = _find_endpoint(ep_id)
    since_ms, include_delivered = query.since, query.include_delivered
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
    return jsonify(ReplayOut(endpoint_id=ep.id, since=iso_ms(since_ms), replayed=count).model_dump()), 202


# ---------------------------------------------------------------- default secret
@bp.post("/v1/webhooks/default-secret")
@require_key
@require_scope("admin")
@contract("revealDefaultWebhookSecret", "webhooks", "The secret that signs deliveries to jobs' own webhook_url "
          "(once)", replies={201: Reply("The secret", SecretOut)}, errors=(403, 409))
def reveal_default_secret() -> ResponseReturnValue:
    secret = _endpoints().reveal_default_secret(tenant())
    if secret is None:
        raise SecretAlreadyRevealed(
            "the default webhook secret was already shown once; "
            "POST /v1/webhooks/default-secret/rotate to get a new one"
        )
    return jsonify(SecretOut(secret=secret, note="shown once; signs deliveries to each job's own webhook_url")
                   .model_dump()), 201


@bp.post("/v1/webhooks/default-secret/rotate")
@require_key
@require_scope("admin")
@contract("rotateDefaultWebhookSecret", "webhooks", "A new default secret; the previous one signs for 24 h more",
          replies={201: Reply("The new secret", SecretOut)}, errors=(403,))
def rotate_default_secret() -> ResponseReturnValue:
    secret = _endpoints().rotate_default_secret(tenant())
    return jsonify(SecretOut(secret=secret, note="shown once; the previous secret keeps signing for 24 h")
                   .model_dump()), 201


# ---------------------------------------------------------------- per job
def _deliveries_doc(job: Job) -> DeliveryLog:
    ob = _outbox()
    events, deliveries = [], []
    for e in ob.events_of(job.id):
        events.append(DeliveryEvent(webhook_id=e.id, type=e.type, sequence=e.sequence, created_at=iso_ms(e.created_at)))
        for d in ob.deliveries_of(e.id):
            deliveries.append(
                Delivery(
                    webhook_id=e.id,
                    type=e.type,
                    endpoint_id=None if d.get("ep") == JOB_TARGET else d.get("ep"),
                    target="job_webhook_url" if d.get("ep") == JOB_TARGET else "endpoint",
                    url=d.get("url"),
                    status=d.get("status"),
                    attempts=int(d.get("attempts") or 0),
                    last_status_code=int(d["last_status_code"]) if d.get("last_status_code") else None,
                    last_error=d.get("last_error") or None,
                    next_attempt_at=iso_ms(int(d["next_attempt_at"]))
                    if d.get("next_attempt_at") and d.get("status") == "pending"
                    else None,
                    delivered_at=iso_ms(int(d["delivered_at"])) if d.get("delivered_at") else None,
                )
            )
    attempts = ob.attempts(job.id)
    for a in attempts:
        if a.get("endpoint_id") == JOB_TARGET:
            a["endpoint_id"] = None
    return DeliveryLog(job_id=job.id, events=events, deliveries=deliveries, attempts=attempts)


@bp.get("/v1/jobs/<job_id>/deliveries")
@require_key
@contract("getJobDeliveries", "webhooks", "The job's webhook events, deliveries and every attempt",
          replies={200: Reply("The delivery log", DeliveryLog)}, errors=(404, 410))
def job_deliveries(job_id: JobId) -> ResponseReturnValue:
    return jsonify(_deliveries_doc(find_job(job_id)).model_dump(mode="json"))


@bp.post("/v1/jobs/<job_id>/deliveries/redeliver")
@require_key
@require_scope("admin")
@contract("redeliverJob", "webhooks", "Send the job's events again, with their original webhook-ids",
          replies={202: Reply("Queued", RedeliverOut)}, errors=(403, 404, 409, 410))
def redeliver(job_id: JobId) -> ResponseReturnValue:
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
        raise NothingToRedeliver(f"job {job_id} has no webhook events (yet)")
    return jsonify(RedeliverOut(job_id=job.id, redelivered=count).model_dump()), 202
