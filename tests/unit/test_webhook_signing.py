"""Our Standard Webhooks signatures must verify with the reference ``standardwebhooks`` library."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.webhooks import signing

BODY = b'{"type":"job.completed","data":{"job_id":"j_1","status":"succeeded"}}'


def _now() -> int:
    return int(time.time())


def test_new_secret_form() -> None:
    s = signing.new_secret()
    assert s.startswith("whsec_")
    assert len(base64.b64decode(s.removeprefix("whsec_"))) == 32
    assert signing.new_secret() != s


def test_sign_matches_spec_vector() -> None:
    # Test vector from the Standard Webhooks reference test-suite.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    sig = signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert sig == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_reference_library_verifies_our_headers() -> None:
    secret = signing.new_secret()
    h = signing.headers("msg_1", _now(), BODY, [secret])
    assert h["content-type"] == "application/json"
    assert h["webhook-id"] == "msg_1"
    assert Webhook(secret).verify(BODY, h) == {
        "type": "job.completed",
        "data": {"job_id": "j_1", "status": "succeeded"},
    }


def test_rotation_each_secret_alone_verifies() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    h = signing.headers("msg_2", _now(), BODY, [old, new])
    assert len(h["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, h)
    Webhook(new).verify(BODY, h)
    signing.verify(old, h, BODY)
    signing.verify([new], h, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, h)


def test_reference_library_rejects_tampering() -> None:
    secret = signing.new_secret()
    h = signing.headers("msg_3", _now(), BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"succeeded", b"failed"), h)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**h, "webhook-id": "msg_other"})


def test_our_verify_accepts_and_rejects() -> None:
    secret = signing.new_secret()
    ts = _now()
    h = signing.headers("msg_4", ts, BODY, [secret])
    signing.verify(secret, h, BODY)
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, h, BODY + b" ")
    with pytest.raises(signing.SignatureError):
        signing.verify(signing.new_secret(), h, BODY)
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, {k: v for k, v in h.items() if k != "webhook-signature"}, BODY)
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, {**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, BODY)


@pytest.mark.parametrize("offset", [-301, 301, -3600, 3600])
def test_timestamp_outside_window_rejected(offset: int) -> None:
    secret = signing.new_secret()
    ts = _now() + offset
    h = signing.headers("msg_5", ts, BODY, [secret])
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, h, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, h)


def test_timestamp_inside_window_accepted() -> None:
    secret = signing.new_secret()
    ts = _now()
    h = signing.headers("msg_6", ts, BODY, [secret])
    signing.verify(secret, h, BODY, now=ts + 299)
    signing.verify(secret, h, BODY, now=ts - 299)


def test_unpadded_secret_accepted() -> None:
    secret = signing.new_secret()
    unpadded = secret.rstrip("=")
    h = signing.headers("msg_7", _now(), BODY, [unpadded])
    Webhook(secret).verify(BODY, h)


@pytest.mark.parametrize("bad", ["whsec_", "whsec_not base64!!", ""])
def test_bad_secret_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        signing.sign(bad, "m", 1, b"{}")


def test_headers_need_a_secret() -> None:
    with pytest.raises(ValueError):
        signing.headers("m", 1, b"{}", [])
