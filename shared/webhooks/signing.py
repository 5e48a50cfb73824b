"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A receiver verifies ``v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``.
The secret is stored and shown as ``whsec_<base64 of the raw key>``; the HMAC key is the
decoded bytes, not the string, which is what every Standard Webhooks library expects.

Secret rotation: while an old and a new secret overlap we sign with both and send the
signatures space-separated, so receivers configured with either secret keep verifying.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
# The spec's recommended replay window; the reference libraries use the same 5 minutes.
DEFAULT_TOLERANCE_S = 5 * 60
_SECRET_BYTES = 32  # 256-bit keys: the HMAC-SHA256 block gives nothing more to longer ones


class SignatureError(Exception):
    """A webhook failed verification; the message says why in one line."""


def new_secret() -> str:
    """A fresh random signing secret in the ``whsec_<base64>`` form."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _secret_key(secret: str) -> bytes:
    """Decode ``whsec_<base64>`` (prefix optional, padding optional) into the HMAC key."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        # Unpadded base64 is accepted by the reference libraries, so accept it too.
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("webhook secret must be whsec_ followed by base64") from None
    if not key:
        raise ValueError("webhook secret may not be empty")
    return key


def _signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return msg_id.encode() + b"." + str(int(timestamp)).encode() + b"." + body


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One versioned signature: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    mac = hmac.new(_secret_key(secret), _signed_content(msg_id, timestamp, body), hashlib.sha256)
    return f"{SIGNATURE_VERSION},{base64.b64encode(mac.digest()).decode('ascii')}"


def headers(msg_id: str, timestamp: int, body: bytes, secrets: list[str]) -> dict[str, str]:
    """The headers of one delivery: id, timestamp, one signature per active secret."""
    if not secrets:
        # Sending an unsigned webhook would look valid to a careless receiver; refuse instead.
        raise ValueError("at least one signing secret is required")
    signatures = " ".join(sign(s, msg_id, timestamp, body) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


def verify(
    secrets: Iterable[str] | str,
    hdrs: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless one ``v1`` signature in ``hdrs`` matches one of ``secrets``.

    For our own use (tests, a replay tool); receivers should use a Standard Webhooks library.
    """
    lower = {k.lower(): v for k, v in hdrs.items()}
    msg_id = lower.get("webhook-id")
    ts_text = lower.get("webhook-timestamp")
    sig_text = lower.get("webhook-signature")
    if not (msg_id and ts_text and sig_text):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(ts_text)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        # Outside the window a captured request could be replayed; the spec says reject.
        raise SignatureError("webhook-timestamp is outside the tolerance window")

    offered: list[bytes] = []
    for part in sig_text.split():
        version, _, value = part.partition(",")
        if version != SIGNATURE_VERSION:
            continue  # unknown versions are skipped, as the spec requires
        try:
            offered.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue

    content = _signed_content(msg_id, timestamp, body)
    for secret in [secrets] if isinstance(secrets, str) else secrets:
        expected = hmac.new(_secret_key(secret), content, hashlib.sha256).digest()
        # compare_digest on every candidate: no early-exit timing signal about which byte differs.
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return
    raise SignatureError("no matching signature")
