from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from alerts.signing import (
    HEADER_ALERT_ID,
    HEADER_EVENT,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    build_headers,
    event_key,
    sign,
    signature_header,
    verify,
)

SECRET = SecretStr("s3cret-shared-with-the-receiver")
T = 1_790_000_000
BODY = b'{"alert_id":"abc","rule_id":"tracked-actor"}'


def test_sign_is_hex_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.get_secret_value().encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == expected
    assert signature_header(SECRET, T, BODY) == f"sha256={expected}"


def test_secretstr_and_bytes_secrets_sign_alike() -> None:
    assert sign(SECRET, T, BODY) == sign(SECRET.get_secret_value().encode(), T, BODY)


def test_empty_secret_is_refused_with_a_hint() -> None:
    with pytest.raises(ValueError, match="secret_env"):
        sign(SecretStr(""), T, BODY)


def test_round_trip_verifies() -> None:
    assert verify(SECRET, str(T), signature_header(SECRET, T, BODY), BODY, now=T + 5)


@pytest.mark.parametrize(
    ("timestamp", "signature", "body", "secret"),
    [
        (str(T), None, BODY + b" ", SECRET),  # body changed after signing
        (str(T + 1), None, BODY, SECRET),  # timestamp changed after signing
        (str(T), None, BODY, SecretStr("another-secret")),  # wrong secret
        (str(T), "sha1=" + sign(SECRET, T, BODY), BODY, SECRET),  # wrong scheme
        (str(T), sign(SECRET, T, BODY), BODY, SECRET),  # no scheme prefix
        (str(T), "sha256=", BODY, SECRET),
        (str(T), "", BODY, SECRET),
        ("", None, BODY, SECRET),
        ("17e8", None, BODY, SECRET),
        (f"-{T}", None, BODY, SECRET),
    ],
)
def test_tampered_or_malformed_requests_are_rejected(
    timestamp: str, signature: str | None, body: bytes, secret: SecretStr
) -> None:
    header = signature_header(SECRET, T, BODY) if signature is None else signature
    assert not verify(secret, timestamp, header, body, now=T)


def test_stale_and_future_timestamps_are_rejected_as_replays() -> None:
    header = signature_header(SECRET, T, BODY)
    assert verify(SECRET, str(T), header, BODY, now=T + 300)
    assert not verify(SECRET, str(T), header, BODY, now=T + 301)
    assert not verify(SECRET, str(T), header, BODY, now=T - 301)
    assert verify(SECRET, str(T), header, BODY, now=T + 3000, tolerance_s=3600)


def test_any_of_several_signatures_may_match_during_secret_rotation() -> None:
    old = signature_header(SecretStr("old-secret"), T, BODY)
    new = signature_header(SECRET, T, BODY)
    assert verify(SECRET, str(T), f"{old}, {new}", BODY, now=T)
    assert not verify(SECRET, str(T), f"{old}, {old}", BODY, now=T)


def test_headers_carry_alert_id_idempotency_key_event_timestamp_and_signature() -> None:
    headers = build_headers(alert_id="abc", kind="alert", body=BODY, timestamp=T, secret=SECRET)
    assert headers[HEADER_ALERT_ID] == "abc"
    assert headers[HEADER_IDEMPOTENCY_KEY] == "abc"
    assert headers[HEADER_EVENT] == "alert"
    assert headers[HEADER_TIMESTAMP] == str(T)
    assert headers[HEADER_SIGNATURE] == signature_header(SECRET, T, BODY)
    assert headers["Content-Type"] == "application/json"
    assert SECRET.get_secret_value() not in " ".join(headers.values())


def test_unsigned_headers_when_no_secret() -> None:
    headers = build_headers(alert_id="abc", kind="alert", body=BODY, timestamp=T, secret=None)
    assert HEADER_SIGNATURE not in headers
    assert headers[HEADER_TIMESTAMP] == str(T)


def test_updates_get_their_own_idempotency_key_per_growth() -> None:
    assert event_key("abc", "alert") == "abc"
    assert event_key("abc", "update", 1) == "abc:update:1"
    assert event_key("abc", "update", 1) != event_key("abc", "update", 2)
    headers = build_headers(alert_id="abc", kind="update", body=BODY, timestamp=T, secret=SECRET, reported_by=2)
    assert headers[HEADER_ALERT_ID] == "abc"
    assert headers[HEADER_EVENT] == "update"
    assert headers[HEADER_IDEMPOTENCY_KEY] == "abc:update:2"


@given(body=st.binary(max_size=2048), timestamp=st.integers(min_value=0, max_value=2**40), flip=st.integers(0, 2047))
def test_any_body_round_trips_and_any_flipped_byte_is_caught(body: bytes, timestamp: int, flip: int) -> None:
    header = signature_header(SECRET, timestamp, body)
    assert verify(SECRET, str(timestamp), header, body, now=timestamp)
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
        assert not verify(SECRET, str(timestamp), header, tampered, now=timestamp)
