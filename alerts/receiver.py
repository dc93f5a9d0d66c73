"""A small demo webhook receiver: verifies signatures, de-duplicates, remembers what it got.

Used by ``docker-compose`` (``wirewatch demo-receiver``) and by the integration tests. It shows
what a well-behaved receiver does:

* checks ``X-Wirewatch-Signature`` over the raw body and ``X-Wirewatch-Timestamp`` with the
  shared secret, and answers ``401`` when either is wrong or stale;
* treats ``X-Wirewatch-Alert-Id`` + ``X-Wirewatch-Event`` (+ ``Idempotency-Key``, which tells
  grown updates apart) as the idempotency key: a redelivery is answered ``200`` but stored once;
* answers ``2xx`` quickly.

For tests it can misbehave on purpose: fail the first ``fail_first`` requests with
``status_on_fail`` (optionally with a ``Retry-After``), or answer every request after
``delay_s`` seconds. ``GET /received`` lists the stored events as JSON. Alerts are POSTed to
``/hook`` (or ``/``). Memory is bounded: the oldest events are forgotten past ``max_events``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from aiohttp import web
from pydantic import SecretStr

from alerts.signing import (
    DEFAULT_TOLERANCE_S,
    HEADER_ALERT_ID,
    HEADER_EVENT,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    verify,
)

DEFAULT_MAX_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """One stored (first-time, correctly signed) event."""

    alert_id: str
    event: str
    idempotency_key: str
    received_at: datetime
    payload: Any

    def as_json(self) -> dict[str, Any]:
        """The event as ``GET /received`` shows it."""
        return {
            "alert_id": self.alert_id,
            "event": self.event,
            "idempotency_key": self.idempotency_key,
            "received_at": self.received_at.isoformat(),
            "payload": self.payload,
        }


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """Every POST as it arrived (``at`` = monotonic clock), before any check or delay."""

    alert_id: str
    event: str
    at: float


@dataclass
class ReceiverState:
    """What the receiver saw. ``requests`` holds every POST, ``events`` the stored ones."""

    max_events: int = DEFAULT_MAX_EVENTS
    events: deque[ReceivedEvent] = field(default_factory=deque)
    requests: deque[RequestRecord] = field(default_factory=deque)
    seen: OrderedDict[tuple[str, str, str], None] = field(default_factory=OrderedDict)
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0

    def remember(self, key: tuple[str, str, str], event: ReceivedEvent) -> None:
        """Store ``event`` under ``key``, forgetting the oldest past ``max_events``."""
        self.seen[key] = None
        self.events.append(event)
        while len(self.seen) > self.max_events:
            self.seen.popitem(last=False)
        while len(self.events) > self.max_events:
            self.events.popleft()

    def record(self, request: RequestRecord) -> None:
        """Note one POST (bounded like the events)."""
        self.requests.append(request)
        while len(self.requests) > self.max_events:
            self.requests.popleft()

    def attempts(self, alert_id: str) -> int:
        """How many POSTs arrived for ``alert_id``, failed and duplicate ones included."""
        return sum(1 for r in self.requests if r.alert_id == alert_id)


RECEIVER_STATE = web.AppKey("wirewatch_receiver_state", ReceiverState)

EventCallback = Callable[[ReceivedEvent], None]


def make_app(
    secret: SecretStr | None,
    fail_first: int = 0,
    status_on_fail: int = 503,
    delay_s: float = 0.0,
    *,
    retry_after_s: int | None = None,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    max_events: int = DEFAULT_MAX_EVENTS,
    on_event: EventCallback | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """Build the receiver application.

    Args:
        secret: the shared secret; None accepts unsigned requests (and ignores signatures).
        fail_first: answer the first N POSTs with ``status_on_fail`` (before any check, like an
            overloaded or restarting service would).
        status_on_fail: the status of those failures (503, 429, 400, ...).
        delay_s: wait this long before answering every POST (a slow receiver).
        retry_after_s: send ``Retry-After: <n>`` with the failures.
        tolerance_s: how old (or how far in the future) a signature timestamp may be.
        max_events: bound of the stored events, requests and idempotency keys.
        on_event: called with each newly stored event (``serve`` prints them).
        clock: unix time, for the timestamp check.

    Returns:
        The application; its :class:`ReceiverState` is ``app[RECEIVER_STATE]``.
    """
    if fail_first < 0:
        raise ValueError(f"fail_first must be >= 0 (got {fail_first})")
    if not 100 <= status_on_fail <= 599:
        raise ValueError(f"status_on_fail must be an HTTP status 100-599 (got {status_on_fail})")
    if delay_s < 0:
        raise ValueError(f"delay_s must be >= 0 (got {delay_s})")
    if max_events < 1:
        raise ValueError(f"max_events must be at least 1 (got {max_events})")
    state = ReceiverState(max_events=max_events)
    failures_left = fail_first

    async def hook(request: web.Request) -> web.Response:
        nonlocal failures_left
        alert_id = request.headers.get(HEADER_ALERT_ID, "")
        event = request.headers.get(HEADER_EVENT, "")
        state.record(RequestRecord(alert_id, event, time.monotonic()))
        body = await request.read()
        if delay_s:
            await asyncio.sleep(delay_s)
        if failures_left > 0:
            failures_left -= 1
            state.failed += 1
            headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
            return web.json_response({"error": "failing on purpose"}, status=status_on_fail, headers=headers)
        if secret is not None and not verify(
            secret,
            request.headers.get(HEADER_TIMESTAMP),
            request.headers.get(HEADER_SIGNATURE),
            body,
            clock(),
            tolerance_s=tolerance_s,
        ):
            state.rejected += 1
            return web.json_response({"error": "bad or stale signature"}, status=401)
        if not alert_id or not event:
            return web.json_response({"error": f"{HEADER_ALERT_ID} and {HEADER_EVENT} are required"}, status=400)
        key = (alert_id, event, request.headers.get(HEADER_IDEMPOTENCY_KEY, alert_id))
        if key in state.seen:
            state.duplicates += 1
            return web.json_response({"status": "duplicate"})
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = body.decode("utf-8", "replace")
        received = ReceivedEvent(alert_id, event, key[2], datetime.now(UTC), payload)
        state.remember(key, received)
        if on_event is not None:
            on_event(received)
        return web.json_response({"status": "stored"})

    async def received(_request: web.Request) -> web.Response:
        return web.json_response([e.as_json() for e in state.events])

    app = web.Application()
    app[RECEIVER_STATE] = state
    app.router.add_post("/hook", hook)
    app.router.add_post("/", hook)
    app.router.add_get("/received", received)
    return app


def describe(event: ReceivedEvent) -> str:
    """One human line for a received event (generic Alert JSON or a Slack message)."""
    payload = event.payload
    if isinstance(payload, dict) and "rule_id" in payload:
        also = payload.get("also_reported_by") or []
        line = (
            f"{event.event} {event.alert_id} [{payload.get('severity', '?')}] {payload.get('rule_id')}: "
            f"{payload.get('title') or payload.get('doc_id')} ({payload.get('outlet') or '?'})"
        )
        return line + (f" also reported by {', '.join(map(str, also))}" if also else "")
    if isinstance(payload, dict) and "text" in payload:
        return f"{event.event} {event.alert_id} {payload['text']}"
    return f"{event.event} {event.alert_id} {str(payload)[:200]}"


async def serve(host: str, port: int, secret: SecretStr | None, *, out: TextIO | None = None) -> None:
    """Run the demo receiver until cancelled, printing one line per received alert.

    Args:
        host: interface to listen on (``0.0.0.0`` in a container).
        port: TCP port.
        secret: the shared secret (from the environment, read by the CLI), or None.
        out: where the lines go; stdout by default.
    """
    stream = out or sys.stdout

    def show(event: ReceivedEvent) -> None:
        print(" ".join(describe(event).split()), file=stream, flush=True)

    runner = web.AppRunner(make_app(secret, on_event=show), shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


__all__ = [
    "DEFAULT_MAX_EVENTS",
    "RECEIVER_STATE",
    "ReceivedEvent",
    "ReceiverState",
    "RequestRecord",
    "describe",
    "make_app",
    "serve",
]
