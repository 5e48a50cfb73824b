"""What every request handler shares: the app's services and the request's tenant.

A leaf module: blueprints import it, the app factory fills it, and it imports no blueprint.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app, g, request

from api.ratelimit import RateLimiter
from shared.infra.blobs import BlobStore
from shared.infra.settings import Settings
from shared.jobs.store import JobStore
from shared.jobs.submit import SendJob, Submitter
from shared.tenants import KeyStore
from shared.webhooks.outbox import Outbox

EXTENSION = "ocrq"


@dataclass
class Services:
    settings: Settings
    redis: redis.Redis
    store: JobStore
    blobs: BlobStore
    keys: KeyStore
    limiter: RateLimiter
    send_job: SendJob
    submitter: Submitter
    outbox: Outbox


def services() -> Services:
    found: Services = current_app.extensions[EXTENSION]
    return found


def tenant() -> str:
    name: str = g.api_key.tenant
    return name


def client_ip() -> str:
    return request.remote_addr or "?"
