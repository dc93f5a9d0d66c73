"""HMAC-SHA256 signatures of webhook requests, and the headers that carry them.

A request is signed over ``f"{timestamp}.".encode() + body`` with the webhook's shared secret;
the hex digest travels as ``X-Wirewatch-Signature: sha256=<hex>`` next to
``X-Wirewatch-Timestamp`` (unix seconds). Binding the timestamp into the MAC lets a receiver
reject replays: :func:`verify` refuses a timestamp further than ``tolerance_s`` from its clock,
so a captured request cannot be re-sent later. The sender signs every attempt afresh, so a retry
after a long backoff is not stale.

Everything here is pure: secrets are passed in (as :class:`~pydantic.SecretStr` or bytes), never
read from the environment, and never put into a message or a log line.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

from schemas.alerts import AlertKind

SIGNATURE_SCHEME = "sha256"
DEFAULT_TOLERANCE_S = 300.0

HEADER_ALERT_ID = "X-Wirewatch-Alert-Id"
HEADER_IDEMPOTENCY_KEY = "Idempotency-Key"
HEADER_TIMESTAMP = "X-Wirewatch-Timestamp"
HEADER_SIGNATURE = "X-Wirewatch-Signature"
HEADER_EVENT = "X-Wirewatch-Event"
USER_AGENT = "wirewatch-webhooks/1"

Secret = SecretStr | bytes


def _key(secret: Secret) -> bytes:
    key = secret.get_secret_value().encode("utf-8") if isinstance(secret, SecretStr) else secret
    if not key:
        raise ValueError("the webhook secret is empty: set a non-empty value in the variable named by secret_env")
    return key


def sign(secret: Secret, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` under ``secret``.

    Args:
        secret: the webhook's shared secret.
        timestamp: unix seconds, as sent in ``X-Wirewatch-Timestamp``.
        body: the exact request body bytes.

    Returns:
        The lowercase hex digest (without the ``sha256=`` prefix).
    """
    mac = hmac.new(_key(secret), f"{int(timestamp)}.".encode("ascii"), hashlib.sha256)
    mac.update(body)
    return mac.hexdigest()


def signature_header(secret: Secret, timestamp: int, body: bytes) -> str:
    """The value of ``X-Wirewatch-Signature``: ``sha256=<hex>``."""
    return f"{SIGNATURE_SCHEME}={sign(secret, timestamp, body)}"


def event_key(alert_id: str, kind: AlertKind, reported_by: int = 0) -> str:
    """The idempotency key of one event.

    For ``kind="alert"`` it is the ``alert_id`` itself (one story and rule alert once). An
    update shares the ``alert_id`` of its alert but is a different event, so its key adds the
    kind and how many other outlets it reports (``{alert_id}:update:{n}``); a receiver that
    honours ``Idempotency-Key`` strictly then keeps each grown update instead of dropping it.
    """
    return alert_id if kind == "alert" else f"{alert_id}:{kind}:{reported_by}"


def build_headers(
    *,
    alert_id: str,
    kind: AlertKind,
    body: bytes,
    timestamp: int,
    secret: Secret | None,
    reported_by: int = 0,
) -> dict[str, str]:
    """All headers of one delivery attempt.

    Args:
        alert_id: the alert's deterministic id (``X-Wirewatch-Alert-Id``).
        kind: ``alert`` or ``update`` (``X-Wirewatch-Event``).
        body: the request body, which the signature covers.
        timestamp: unix seconds of this attempt.
        secret: the shared secret; without one the request is sent unsigned.
        reported_by: ``len(alert.also_reported_by)``, which tells updates apart.
    """
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        HEADER_ALERT_ID: alert_id,
        HEADER_IDEMPOTENCY_KEY: event_key(alert_id, kind, reported_by),
        HEADER_EVENT: kind,
        HEADER_TIMESTAMP: str(int(timestamp)),
    }
    if secret is not None:
        headers[HEADER_SIGNATURE] = signature_header(secret, timestamp, body)
    return headers


def verify(
    secret: Secret,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """Check a request's signature and freshness, in constant time.

    Args:
        secret: the shared secret.
        timestamp_header: the ``X-Wirewatch-Timestamp`` value as received.
        signature_header: the ``X-Wirewatch-Signature`` value; several comma-separated
            ``sha256=<hex>`` entries are accepted (e.g. while a secret is being rotated).
        body: the raw request body, before any JSON parsing.
        now: the receiver's clock in unix seconds.
        tolerance_s: how far the timestamp may be from ``now``, either way, before the request
            counts as a replay (or a badly skewed clock).

    Returns:
        True only when the timestamp is fresh and one signature matches.
    """
    if not timestamp_header or not signature_header:
        return False
    stamp = timestamp_header.strip()
    if not stamp.isascii() or not stamp.isdigit():
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).encode("ascii")
    matched = False
    for entry in signature_header.split(","):
        scheme, sep, digest = entry.strip().partition("=")
        if sep and scheme == SIGNATURE_SCHEME:
            # Keep comparing after a match so timing does not reveal which entry matched.
            matched |= hmac.compare_digest(expected, digest.strip().lower().encode("utf-8"))
    return matched


__all__ = [
    "DEFAULT_TOLERANCE_S",
    "HEADER_ALERT_ID",
    "HEADER_EVENT",
    "HEADER_IDEMPOTENCY_KEY",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "SIGNATURE_SCHEME",
    "USER_AGENT",
    "Secret",
    "build_headers",
    "event_key",
    "sign",
    "signature_header",
    "verify",
]
