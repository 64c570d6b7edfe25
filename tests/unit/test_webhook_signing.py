import base64
import hashlib
import hmac
import time

import pytest

from leadmagnet.common.webhooks import (
    WebhookVerificationError,
    new_secret,
    sign,
    signed_headers,
    verify,
)

# The test vector published with the Standard Webhooks reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TS = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_matches_the_spec_test_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIGNATURE


def test_signature_is_hmac_sha256_of_id_timestamp_body_with_the_decoded_secret() -> None:
    secret = new_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    body = b'{"job_id":"job_1","status":"completed"}'
    headers = signed_headers(secret, "evt_1", body, timestamp=1_700_000_000)
    expected = hmac.new(key, b"evt_1.1700000000." + body, hashlib.sha256).digest()
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()
    assert headers["webhook-id"] == "evt_1"
    assert headers["webhook-timestamp"] == "1700000000"


def test_verify_accepts_fresh_and_rotated_signatures() -> None:
    old, current = new_secret(), new_secret()
    body = b'{"a":1}'
    headers = signed_headers(current, "evt_2", body)
    headers["webhook-signature"] = (
        sign(old, "evt_2", int(headers["webhook-timestamp"]), body)
        + " "
        + headers["webhook-signature"]
    )
    assert verify([current], headers, body) == "evt_2"
    assert verify([old], headers, body) == "evt_2"


@pytest.mark.parametrize("mutation", ["body", "timestamp", "secret", "stale", "missing"])
def test_verify_rejects_tampering(mutation: str) -> None:
    secret = new_secret()
    body = b'{"a":1}'
    headers = signed_headers(secret, "evt_3", body)
    if mutation == "body":
        body = b'{"a":2}'
    elif mutation == "timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    elif mutation == "secret":
        secret = new_secret()
    elif mutation == "stale":
        headers = signed_headers(secret, "evt_3", body, timestamp=int(time.time()) - 3600)
    else:
        del headers["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        verify(secret, headers, body)


def test_secrets_have_the_spec_shape() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret[6:])) <= 64
