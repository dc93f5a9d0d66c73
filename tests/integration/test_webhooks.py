"""Webhook delivery over real HTTP to real aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from alerts.delivery import DeliveryOutcome, WebhookDispatcher, deliver_all
from alerts.receiver import RECEIVER_STATE, ReceivedEvent, ReceiverState, make_app
from alerts.signing import (
    HEADER_ALERT_ID,
    HEADER_EVENT,
    HEADER_IDEMPOTENCY_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    build_headers,
    verify,
)
from schemas.alerts import Alert, AlertKind
from schemas.config import Webhook
from schemas.deadletter import DeadLetter, Reason
from schemas.pages import Mention

pytestmark = pytest.mark.integration

SECRET = SecretStr("integration-shared-secret")


def make_alert(
    alert_id: str = "story-1", notify: Sequence[str] = ("ops",), kind: AlertKind = "alert", also: Sequence[str] = ()
) -> Alert:
    return Alert(
        alert_id=alert_id,
        kind=kind,
        rule_id="tracked-actor-in-news",
        severity="high",
        doc_id="doc-1",
        cluster_id="cluster-1",
        url="https://news.example/khazali",
        outlet="news.example",
        title="Khazali warns US forces",
        matched=[
            Mention(
                entity_id="qais-al-khazali",
                name="Qais al-Khazali",
                type="person",
                surface="Khazali",
                field="title",
                start=0,
                end=7,
            )
        ],
        snippet="Qais al-Khazali said the resistance would continue.",
        also_reported_by=list(also),
        notify=list(notify),
        created_at=datetime(2026, 11, 1, 12, tzinfo=UTC),
    )


def hook(hook_id: str, url: str, **kw: Any) -> Webhook:
    params: dict[str, Any] = {"max_attempts": 3, "backoff_initial_s": 0.05, "backoff_max_s": 0.05, "timeout_s": 5.0}
    params.update(kw)
    return Webhook(id=hook_id, url=url, **params)


class FixedRandom:
    def random(self) -> float:
        return 0.99


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on 127.0.0.1 on a free port; yields its /hook URL."""
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        await web.SockSite(runner, sock).start()
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()
        sock.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@dataclass
class Recorder:
    """Outcomes and dead letters with the (monotonic) time they were reported."""

    outcomes: list[tuple[float, DeliveryOutcome]] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)

    def outcome(self, outcome: DeliveryOutcome) -> None:
        self.outcomes.append((time.monotonic(), outcome))

    async def letter(self, letter: DeadLetter) -> None:
        self.letters.append(letter)

    def of(self, webhook_id: str) -> list[DeliveryOutcome]:
        return [o for _, o in self.outcomes if o.webhook_id == webhook_id]

    def time_of(self, webhook_id: str) -> list[float]:
        return [t for t, o in self.outcomes if o.webhook_id == webhook_id]


def dispatcher(hooks: list[Webhook], rec: Recorder, **kw: Any) -> WebhookDispatcher:
    return WebhookDispatcher(hooks, {h.id: SECRET for h in hooks}, rec.outcome, rec.letter, **kw)


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def state_of(app: web.Application) -> ReceiverState:
    return app[RECEIVER_STATE]


def arrival_times() -> tuple[list[float], Callable[[ReceivedEvent], None]]:
    times: list[float] = []
    return times, lambda _event: times.append(time.monotonic())


# (a) ------------------------------------------------------------------------------------------


def test_signatures_verify_at_the_receiver_with_the_shared_secret() -> None:
    seen: list[tuple[dict[str, str], bytes]] = []

    async def raw(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    raw_app = web.Application()
    raw_app.router.add_post("/hook", raw)
    good_app = make_app(SECRET)
    wrong_app = make_app(SecretStr("not-the-shared-secret"))
    alert = make_alert(notify=["good", "raw", "wrong"])
    rec = Recorder()

    async def go() -> list[dict[str, Any]]:
        async with serving(good_app) as good, serving(raw_app) as raw_url, serving(wrong_app) as wrong:
            hooks = [hook("good", good), hook("raw", raw_url), hook("wrong", wrong)]
            async with dispatcher(hooks, rec) as d:
                assert await d.submit(alert) == 3
            async with aiohttp.ClientSession() as client, client.get(good.replace("/hook", "/received")) as resp:
                listed: list[dict[str, Any]] = await resp.json()
                return listed

    listed = asyncio.run(go())
    [event] = listed
    assert (event["alert_id"], event["event"]) == (alert.alert_id, "alert")
    assert Alert.model_validate(event["payload"]) == alert

    [(headers, body)] = seen
    assert body == alert.model_dump_json().encode()
    assert headers[HEADER_ALERT_ID] == headers[HEADER_IDEMPOTENCY_KEY] == alert.alert_id
    assert headers[HEADER_EVENT] == "alert"
    assert headers[HEADER_SIGNATURE].startswith("sha256=")
    assert verify(SECRET, headers[HEADER_TIMESTAMP], headers[HEADER_SIGNATURE], body, now=time.time())
    assert not verify(SECRET, headers[HEADER_TIMESTAMP], headers[HEADER_SIGNATURE], body + b" ", now=time.time())

    [wrong_outcome] = rec.of("wrong")
    assert (wrong_outcome.delivered, wrong_outcome.attempts, wrong_outcome.last_status) == (False, 1, 401)
    assert state_of(wrong_app).rejected == 1 and not state_of(wrong_app).events
    [letter] = rec.letters
    assert "webhook 'wrong'" in letter.error and letter.error_type is Reason.DELIVERY_FAILED


def test_receiver_rejects_bad_signatures_and_stores_a_redelivery_once() -> None:
    app = make_app(SECRET)
    body = make_alert().model_dump_json().encode()

    async def go() -> list[int]:
        statuses = []
        async with serving(app) as url, aiohttp.ClientSession() as client:
            now = int(time.time())
            good = build_headers(alert_id="story-1", kind="alert", body=body, timestamp=now, secret=SECRET)
            stale = build_headers(alert_id="story-1", kind="alert", body=body, timestamp=now - 3600, secret=SECRET)
            for headers, data in ((good, body), (good, body), (good, body + b"x"), (stale, body)):
                async with client.post(url, data=data, headers=headers) as resp:
                    statuses.append(resp.status)
        return statuses

    assert asyncio.run(go()) == [200, 200, 401, 401]
    state = state_of(app)
    assert len(state.events) == 1 and state.duplicates == 1 and state.rejected == 2


# (b) ------------------------------------------------------------------------------------------


def test_receiver_failing_twice_gets_the_alert_exactly_once_after_three_attempts() -> None:
    app = make_app(SECRET, fail_first=2, status_on_fail=503)
    alert = make_alert()
    rec = Recorder()

    async def go() -> int:
        async with serving(app) as url:
            ops = hook("ops", url, max_attempts=5)
            async with dispatcher([ops], rec) as d:
                await d.submit(alert)
                await until(lambda: bool(rec.outcomes))
                again = await d.submit(alert)  # delivered already: not sent again
            async with dispatcher([ops], rec) as restarted:  # a restart forgets; the receiver de-duplicates
                await restarted.submit(alert)
            return again

    assert asyncio.run(go()) == 0
    first, after_restart = rec.of("ops")
    assert (first.delivered, first.attempts, first.last_status) == (True, 3, 200)
    assert (after_restart.delivered, after_restart.attempts) == (True, 1)
    state = state_of(app)
    assert state.attempts(alert.alert_id) == 4
    assert [(e.alert_id, e.event) for e in state.events] == [(alert.alert_id, "alert")]
    assert state.duplicates == 1
    assert rec.letters == []


# (c) ------------------------------------------------------------------------------------------


def test_dead_receiver_ends_in_a_dead_letter_while_another_receiver_gets_the_alert_promptly() -> None:
    arrivals, on_event = arrival_times()
    alive_app = make_app(SECRET, on_event=on_event)
    alert = make_alert(notify=["dead", "alive"])
    rec = Recorder()

    async def go() -> None:
        async with serving(alive_app) as alive:
            hooks = [
                hook("dead", closed_port_url(), max_attempts=3, backoff_initial_s=0.3, backoff_max_s=0.3),
                hook("alive", alive),
            ]
            async with dispatcher(hooks, rec, rng=FixedRandom()) as d:
                await d.submit(alert)

    asyncio.run(go())
    [dead] = rec.of("dead")
    assert (dead.delivered, dead.attempts, dead.last_status) == (False, 3, None)
    assert dead.error is not None and "max_attempts=3" in dead.error and "ClientConnectorError" in dead.error
    [alive] = rec.of("alive")
    assert alive.delivered and alive.attempts == 1
    assert len(arrivals) == 1
    assert arrivals[0] < rec.time_of("dead")[0]  # arrived while the dead receiver was still being retried
    assert rec.time_of("alive")[0] < rec.time_of("dead")[0]
    [letter] = rec.letters
    assert letter.stage == "deliver" and letter.error_type is Reason.DELIVERY_FAILED
    assert letter.original() == alert.model_dump_json().encode()
    assert "webhook 'dead'" in letter.error and "last status=none" in letter.error


# (d) ------------------------------------------------------------------------------------------


def test_400_is_not_retried() -> None:
    app = make_app(None, fail_first=10, status_on_fail=400)
    rec = Recorder()

    async def go() -> None:
        async with serving(app) as url, dispatcher([hook("ops", url, max_attempts=5)], rec) as d:
            await d.submit(make_alert())

    asyncio.run(go())
    assert state_of(app).attempts("story-1") == 1
    [outcome] = rec.of("ops")
    assert (outcome.delivered, outcome.attempts, outcome.last_status) == (False, 1, 400)
    [letter] = rec.letters
    assert "HTTP 400 is not retried" in letter.error and "failing on purpose" in letter.error


# (e) ------------------------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured() -> None:
    app = make_app(None, fail_first=1, status_on_fail=429, retry_after_s=1)
    rec = Recorder()

    async def go() -> None:
        # Backoff alone would retry within 0.05 s; only Retry-After explains a ~1 s wait.
        ops = hook("ops", "http://127.0.0.1:1/hook", backoff_initial_s=0.05, backoff_max_s=5.0)
        async with serving(app) as url, dispatcher([ops.model_copy(update={"url": url})], rec) as d:
            await d.submit(make_alert())

    asyncio.run(go())
    [outcome] = rec.of("ops")
    assert (outcome.delivered, outcome.attempts, outcome.last_status) == (True, 2, 200)
    first, second = (r.at for r in state_of(app).requests)
    assert second - first >= 0.9


# (f) ------------------------------------------------------------------------------------------


def test_slow_receiver_times_out_and_retries_without_holding_back_the_other_webhook() -> None:
    slow_app = make_app(SECRET, delay_s=2.0)
    arrivals, on_event = arrival_times()
    fast_app = make_app(SECRET, on_event=on_event)
    alerts = [make_alert(f"story-{n}", notify=["slow", "fast"]) for n in range(2)]
    rec = Recorder()

    async def go() -> None:
        async with serving(slow_app) as slow, serving(fast_app) as fast:
            hooks = [hook("slow", slow, timeout_s=0.5, max_attempts=2), hook("fast", fast)]
            async with dispatcher(hooks, rec, concurrency=1) as d:
                for alert in alerts:
                    await d.submit(alert)

    asyncio.run(go())
    slow_outcomes = rec.of("slow")
    assert [(o.alert_id, o.delivered, o.attempts, o.last_status) for o in slow_outcomes] == [
        ("story-0", False, 2, None),
        ("story-1", False, 2, None),
    ]
    assert all(o.error is not None and "timed out after 0.5s" in o.error for o in slow_outcomes)
    assert state_of(slow_app).attempts("story-0") == 2
    assert [o.delivered for o in rec.of("fast")] == [True, True]
    assert len(arrivals) == 2
    assert max(arrivals) < min(rec.time_of("slow"))  # both reached the fast receiver before slow gave up once
    assert len(rec.letters) == 2


# deliver_all ----------------------------------------------------------------------------------


class ThreadedServer:
    """A receiver on its own event loop in a thread, for code that runs its own loop."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._stop: asyncio.Event | None = None
        self._server: concurrent.futures.Future[None] | None = None
        self.url = ""

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        ready: asyncio.Queue[str] = asyncio.Queue()

        async def run() -> None:
            self._stop = asyncio.Event()
            async with serving(self.app) as url:
                ready.put_nowait(url)
                await self._stop.wait()

        self._server = asyncio.run_coroutine_threadsafe(run(), self.loop)
        self.url = asyncio.run_coroutine_threadsafe(ready.get(), self.loop).result(timeout=5)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._stop is not None and self._server is not None
        self.loop.call_soon_threadsafe(self._stop.set)
        self._server.result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


def test_deliver_all_delivers_synchronously_and_reports_every_outcome() -> None:
    app = make_app(SECRET, fail_first=1)
    letters: list[DeadLetter] = []
    alerts = [
        make_alert("story-1", notify=["ops", "dead"]),
        make_alert("story-2", notify=["ops"]),
        make_alert("story-1", notify=["ops", "dead"], kind="update", also=["b.example"]),
    ]
    with ThreadedServer(app) as server:
        hooks = [hook("ops", server.url), hook("dead", closed_port_url(), max_attempts=2)]
        outcomes = deliver_all(alerts, hooks, {"ops": SECRET}, on_dead_letter=letters.append)
    delivered = sorted((o.alert_id, o.kind) for o in outcomes if o.delivered)
    assert delivered == [("story-1", "alert"), ("story-1", "update"), ("story-2", "alert")]
    assert sorted((o.alert_id, o.kind, o.webhook_id) for o in outcomes if not o.delivered) == [
        ("story-1", "alert", "dead"),
        ("story-1", "update", "dead"),
    ]
    assert len(letters) == 2
    stored = sorted((e.alert_id, e.event, json.dumps(e.payload["also_reported_by"])) for e in state_of(app).events)
    assert stored == [("story-1", "alert", "[]"), ("story-1", "update", '["b.example"]'), ("story-2", "alert", "[]")]


def test_deliver_all_refuses_to_run_inside_an_event_loop() -> None:
    async def go() -> None:
        deliver_all([], [], {})

    with pytest.raises(RuntimeError, match="WebhookDispatcher"):
        asyncio.run(go())
