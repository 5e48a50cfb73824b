"""Verifying a webhook delivery as Standard Webhooks defines it (https://www.standardwebhooks.com/).

ocrq signs ``"{webhook-id}.{webhook-timestamp}.{raw body}"`` with HMAC-SHA256, keyed by the
base64-decoded part of the ``whsec_...`` secret, and sends ``webhook-signature: v1,<base64>`` (two,
space-separated, while a rotated secret still signs). A receiver checks the raw bytes, before any
JSON parsing, and refuses a timestamp more than 5 minutes away (a replayed capture).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ocrq_client.errors import WebhookVerificationError

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 5 * 60


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str | Iterable[str],
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """The event of a delivery whose signature matches ``secret`` (or one of several); else
    ``WebhookVerificationError``. ``headers``: the request's, any case; ``body``: the raw bytes.

        event = verify_webhook(request.headers, request.get_data(), "whsec_...")
        if seen(request.headers["webhook-id"]): ...   # at least once: deduplicate on webhook-id
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, ts_text, signatures = (lower.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and ts_text and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(ts_text)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a whole number of seconds") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance window (a replay?)")
    raw = body.encode() if isinstance(body, str) else bytes(body)
    offered = []
    for part in signatures.split():
        version, _, value = part.partition(",")
        if version == "v1":  # other versions are skipped, as the specification says
            try:
                offered.append(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                continue
    content = f"{msg_id}.{timestamp}.".encode() + raw
    for one in [secret] if isinstance(secret, str) else list(secret):
        expected = hmac.new(_key(one), content, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            try:
                event: dict[str, Any] = json.loads(raw)
            except ValueError:
                raise WebhookVerificationError("the signed body is not JSON") from None
            return event
    raise WebhookVerificationError("no signature matches the secret")
