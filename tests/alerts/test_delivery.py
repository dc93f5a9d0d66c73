from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from pydantic import SecretStr

from alerts.delivery import (
    AttemptResult,
    DeliveryOutcome,
    RetryPolicy,
    Transport,
    Verdict,
    WebhookDispatcher,
    classify_status,
    parse_retry_after,
)
from alerts.payloads import render, slack_message
from alerts.signing import HEADER_ALERT_ID, HEADER_EVENT, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify
from schemas.alerts import Alert, AlertKind
from schemas.config import Webhook
from schemas.deadletter import DeadLetter, Reason
from schemas.pages import Mention

SECRET = SecretStr("unit-test-secret")
NOW = 1_790_000_000.0


def make_alert(
    alert_id: str = "a1", kind: AlertKind = "alert", notify: Sequence[str] = ("ops",), also: Sequence[str] = ()
) -> Alert:
    return Alert(
        alert_id=alert_id,
        kind=kind,
        rule_id="tracked-actor-in-news",
        severity="high",
        doc_id="d1",
        cluster_id="c1",
        url="https://news.example/story?id=1&ref=2",
        outlet="news.example",
        title="Khazali warns <US> & allies",
        matched=[
            Mention(
                entity_id="qais-al-khazali",
                name="Qais al-Khazali",
                type="person",
                surface="Khazali",
                field="title",
                start=0,
                end=7,
            ),
            Mention(
                entity_id="aah",
                name="Asaeb Ahl al-Haq",
                type="organization",
                surface="Asaeb Ahl al-Haq",
                field="body",
                start=10,
                end=26,
            ),
            Mention(
                entity_id="qais-al-khazali",
                name="Qais al-Khazali",
                type="person",
                surface="Qais al-Khazali",
                field="body",
                start=40,
                end=55,
            ),
            Mention(
                entity_id="rocket-attack",
                name="rocket-attack",
                type="keyword",
                surface="Rockets",
                field="body",
                start=60,
                end=67,
            ),
        ],
        snippet="Qais al-Khazali, the secretary-general of Asaeb Ahl al-Haq, said the resistance would continue.",
        also_reported_by=list(also),
        notify=list(notify),
        created_at=datetime(2026, 11, 1, 12, tzinfo=UTC),
    )


def hook(hook_id: str = "ops", **kw: Any) -> Webhook:
    params: dict[str, Any] = {
        "url": f"http://{hook_id}.invalid/hook",
        "max_attempts": 3,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.02,
    }
    params.update(kw)
    return Webhook(id=hook_id, **params)


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


# --- retry policy -----------------------------------------------------------------------------


def test_backoff_ceiling_doubles_per_attempt_until_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_initial_s=0.5, backoff_max_s=5.0)
    assert [policy.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.ceiling(10_000) == 5.0


def test_backoff_is_full_jitter_below_the_ceiling() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_initial_s=0.5, backoff_max_s=5.0)
    assert policy.delay(3, None, FixedRandom(0.0)) == 0.0
    assert policy.delay(3, None, FixedRandom(0.5)) == pytest.approx(1.0)
    assert policy.delay(3, None, FixedRandom(0.999999)) == pytest.approx(2.0, rel=1e-5)
    rng = random.Random(7)
    delays = [policy.delay(4, None, rng) for _ in range(200)]
    assert all(0.0 <= d < 4.0 for d in delays)
    assert len(set(delays)) == 200  # jittered, not a fixed schedule
    assert max(delays) > 3.0 and min(delays) < 1.0


def test_backoff_grows_on_average() -> None:
    policy = RetryPolicy(max_attempts=10, backoff_initial_s=0.1, backoff_max_s=100.0)
    rng = random.Random(1)
    means = [sum(policy.delay(n, None, rng) for _ in range(500)) / 500 for n in (1, 2, 3, 4)]
    assert means == sorted(means)
    assert means[3] > 4 * means[0]


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_initial_s=0.05, backoff_max_s=10.0)
    assert policy.delay(1, 3.0, FixedRandom(0.0)) == 3.0
    assert policy.delay(1, 3600.0, FixedRandom(0.0)) == 10.0
    assert policy.delay(1, 0.0, FixedRandom(0.9)) == 0.0


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("1", NOW) == 1.0
    assert parse_retry_after(" 120 ", NOW) == 120.0
    date = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert parse_retry_after(date, NOW) == pytest.approx(30.0)
    past = format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True)
    assert parse_retry_after(past, NOW) == 0.0
    for bad in (None, "", "soon", "-5", "nan"):
        assert parse_retry_after(bad, NOW) is None


def test_policy_comes_from_the_webhook_and_checks_its_arguments() -> None:
    policy = RetryPolicy.from_webhook(
        Webhook(id="x", url="http://h/", max_attempts=7, backoff_initial_s=2, backoff_max_s=30)
    )
    assert policy == RetryPolicy(max_attempts=7, backoff_initial_s=2.0, backoff_max_s=30.0)
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="backoff_max_s"):
        RetryPolicy(backoff_initial_s=5, backoff_max_s=1)
    with pytest.raises(ValueError, match="start at 1"):
        policy.delay(0)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (202, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (504, Verdict.RETRY),
        (429, Verdict.RETRY),
        (408, Verdict.RETRY),
        (400, Verdict.PERMANENT),
        (401, Verdict.PERMANENT),
        (403, Verdict.PERMANENT),
        (404, Verdict.PERMANENT),
        (410, Verdict.PERMANENT),
        (413, Verdict.PERMANENT),
        (422, Verdict.PERMANENT),
        (301, Verdict.PERMANENT),
        (307, Verdict.PERMANENT),
    ],
)
def test_status_classification(status: int, verdict: Verdict) -> None:
    assert classify_status(status) is verdict


# --- payloads ---------------------------------------------------------------------------------


def test_generic_payload_is_the_alert_model_json() -> None:
    alert = make_alert(also=["b.example"])
    body = render(alert, "generic")
    assert Alert.model_validate_json(body) == alert


def test_slack_payload_has_fallback_text_and_blocks_with_the_essentials() -> None:
    alert = make_alert(also=["b.example", "c.example"])
    message = json.loads(render(alert, "slack"))
    assert set(message) == {"text", "blocks"}
    assert "[HIGH] tracked-actor-in-news" in message["text"]
    assert "Qais al-Khazali, Asaeb Ahl al-Haq" in message["text"]
    assert [b["type"] for b in message["blocks"]] == ["section", "section", "section", "context"]
    headline = message["blocks"][0]["text"]["text"]
    assert "<https://news.example/story?id=1&ref=2|Khazali warns &lt;US&gt; &amp; allies>" in headline
    fields = " ".join(f["text"] for f in message["blocks"][1]["fields"])
    assert "HIGH" in fields and "tracked-actor-in-news" in fields and "news.example" in fields
    assert "Qais al-Khazali, Asaeb Ahl al-Haq" in fields  # actors, each once, keywords apart
    assert "*Keywords*\nrocket-attack" in fields
    assert message["blocks"][2]["text"]["text"].startswith(">Qais al-Khazali, the secretary-general")
    context = " ".join(e["text"] for e in message["blocks"][3]["elements"])
    assert "Also reported by: b.example, c.example" in context
    for block in message["blocks"]:
        texts = [block.get("text", {}).get("text", "")] + [f["text"] for f in block.get("fields", [])]
        assert all(len(t) <= 3000 for t in texts)


def test_slack_update_is_a_short_also_reported_by_message() -> None:
    message = slack_message(make_alert(kind="update", also=["b.example", "c.example"]))
    assert "also reported by b.example, c.example" in message["text"]
    assert len(message["blocks"]) == 2
    assert "is also reported by *b.example, c.example*" in message["blocks"][0]["text"]["text"]


def test_slack_long_snippet_is_cut_to_slack_limits() -> None:
    alert = make_alert().model_copy(update={"snippet": "word " * 2000})
    message = slack_message(alert)
    assert len(message["blocks"][2]["text"]["text"]) <= 3000


# --- dispatcher with a fake transport ---------------------------------------------------------


@dataclass
class Call:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class FakeTransport:
    """Answers each URL from a script (last answer repeats); can hold requests at a gate."""

    script: dict[str, list[AttemptResult]] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    closed: bool = False

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> AttemptResult:
        self.calls.append(Call(url, body, dict(headers)))
        if url in self.gates:
            await self.gates[url].wait()
        answers = self.script.get(url, [AttemptResult(200)])
        return answers.pop(0) if len(answers) > 1 else answers[0]

    async def close(self) -> None:
        self.closed = True

    def to(self, webhook: Webhook) -> list[Call]:
        return [c for c in self.calls if c.url == webhook.url]


def _transport_is_a_transport(t: FakeTransport) -> Transport:
    return t  # mypy checks the fake against the protocol


@dataclass
class Sinks:
    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)

    def outcome(self, o: DeliveryOutcome) -> None:
        self.outcomes.append(o)

    async def letter(self, d: DeadLetter) -> None:  # async, like a Faust topic send
        self.letters.append(d)


def dispatcher(hooks: list[Webhook], transport: FakeTransport, sinks: Sinks, **kw: Any) -> WebhookDispatcher:
    return WebhookDispatcher(
        hooks,
        {h.id: SECRET for h in hooks},
        sinks.outcome,
        sinks.letter,
        transport=transport,
        rng=FixedRandom(0.5),
        clock=lambda: NOW,
        **kw,
    )


def test_retryable_failures_are_retried_until_delivered() -> None:
    ops = hook()
    fake = FakeTransport(
        {ops.url: [AttemptResult(503), AttemptResult(None, error="timed out after 5s"), AttemptResult(200)]}
    )
    sinks = Sinks()

    async def go() -> WebhookDispatcher:
        async with dispatcher([ops], fake, sinks) as d:
            assert await d.submit(make_alert()) == 1
        return d

    d = asyncio.run(go())
    assert sinks.outcomes == [DeliveryOutcome("a1", "ops", True, 3, 200, None, "alert")]
    assert sinks.letters == []
    assert (d.metrics.of("ops").delivered, d.metrics.of("ops").retried) == (1, 2)
    assert fake.closed


def test_every_attempt_is_signed_with_the_shared_secret() -> None:
    ops = hook()
    fake = FakeTransport({ops.url: [AttemptResult(500), AttemptResult(200)]})

    async def go() -> None:
        async with dispatcher([ops], fake, Sinks()) as d:
            await d.submit(make_alert())

    asyncio.run(go())
    assert len(fake.calls) == 2
    for call in fake.calls:
        assert call.body == render(make_alert(), "generic")
        assert call.headers[HEADER_ALERT_ID] == "a1" and call.headers[HEADER_EVENT] == "alert"
        assert verify(SECRET, call.headers[HEADER_TIMESTAMP], call.headers[HEADER_SIGNATURE], call.body, now=NOW)


def test_permanent_failure_is_not_retried_and_becomes_a_dead_letter() -> None:
    ops = hook()
    fake = FakeTransport({ops.url: [AttemptResult(400, error="bad payload")]})
    sinks = Sinks()

    async def go() -> None:
        async with dispatcher([ops], fake, sinks) as d:
            await d.submit(make_alert())

    asyncio.run(go())
    assert len(fake.calls) == 1
    [outcome] = sinks.outcomes
    assert (outcome.delivered, outcome.attempts, outcome.last_status) == (False, 1, 400)
    [letter] = sinks.letters
    assert letter.stage == "deliver" and letter.error_type is Reason.DELIVERY_FAILED
    assert letter.original() == render(make_alert(), "generic")
    assert "'ops'" in letter.error and "HTTP 400 is not retried" in letter.error and "bad payload" in letter.error


def test_exhausted_retries_become_a_dead_letter_naming_webhook_status_and_error() -> None:
    ops = hook(max_attempts=4)
    fake = FakeTransport({ops.url: [AttemptResult(502, error="upstream down")]})
    sinks = Sinks()

    async def go() -> WebhookDispatcher:
        async with dispatcher([ops], fake, sinks) as d:
            await d.submit(make_alert())
        return d

    d = asyncio.run(go())
    assert len(fake.calls) == 4
    [letter] = sinks.letters
    assert "webhook 'ops'" in letter.error and "max_attempts=4" in letter.error
    assert "last status=502" in letter.error and "upstream down" in letter.error
    counters = d.metrics.of("ops")
    assert (counters.retried, counters.failed, counters.dead_lettered, counters.delivered) == (3, 1, 1, 0)


def test_same_event_submitted_twice_is_sent_once_but_a_grown_update_is_sent() -> None:
    ops = hook()
    fake = FakeTransport()
    sinks = Sinks()

    async def go() -> WebhookDispatcher:
        async with dispatcher([ops], fake, sinks) as d:
            await d.submit(make_alert())
            await d.submit(make_alert())  # still queued: skipped
            await asyncio.sleep(0.05)
            await d.submit(make_alert())  # delivered: skipped
            await d.submit(make_alert(kind="update", also=["b.example"]))
            await d.submit(make_alert(kind="update", also=["b.example"]))
            await d.submit(make_alert(kind="update", also=["b.example", "c.example"]))
        return d

    d = asyncio.run(go())
    sent = [(c.headers[HEADER_EVENT], json.loads(c.body)["also_reported_by"]) for c in fake.calls]
    assert sent == [("alert", []), ("update", ["b.example"]), ("update", ["b.example", "c.example"])]
    assert d.metrics.of("ops").duplicates == 3


def test_one_alert_goes_to_each_notified_webhook_in_its_format() -> None:
    ops, chat = hook("ops"), hook("chat", format="slack")
    fake = FakeTransport()
    sinks = Sinks()

    async def go() -> None:
        async with dispatcher([ops, chat], fake, sinks) as d:
            await d.submit(make_alert(notify=["ops", "chat", "ops"]))

    asyncio.run(go())
    assert [c.body for c in fake.to(ops)] == [render(make_alert(notify=["ops", "chat", "ops"]), "generic")]
    assert "blocks" in json.loads(fake.to(chat)[0].body)
    assert sorted(o.webhook_id for o in sinks.outcomes) == ["chat", "ops"]


def test_full_queue_dead_letters_at_once_without_blocking_the_caller_or_other_webhooks() -> None:
    slow, fast = hook("slow"), hook("fast")
    gate = asyncio.Event()
    fake = FakeTransport(gates={slow.url: gate})
    sinks = Sinks()

    async def go() -> WebhookDispatcher:
        d = dispatcher([slow, fast], fake, sinks, concurrency=1, queue_size=1)
        await d.start()
        for n in range(3):
            await asyncio.wait_for(d.submit(make_alert(f"a{n}", notify=["slow", "fast"])), timeout=1.0)
            await asyncio.sleep(0.01)  # let the workers take what they can
        assert [o.alert_id for o in sinks.outcomes if o.webhook_id == "fast" and o.delivered] == ["a0", "a1", "a2"]
        assert [(o.alert_id, o.webhook_id, o.delivered) for o in sinks.outcomes if o.webhook_id == "slow"] == [
            ("a2", "slow", False)
        ]
        gate.set()
        await d.close()
        return d

    d = asyncio.run(go())
    [letter] = sinks.letters
    assert "queue full" in letter.error and "'slow'" in letter.error
    assert json.loads(letter.original())["alert_id"] == "a2"
    counters = d.metrics.of("slow")
    assert (counters.submitted, counters.delivered, counters.queue_full, counters.dead_lettered) == (3, 2, 1, 1)


def test_close_dead_letters_in_flight_and_queued_deliveries_after_the_drain_timeout() -> None:
    stuck = hook("stuck")
    fake = FakeTransport(gates={stuck.url: asyncio.Event()})  # never opens
    sinks = Sinks()

    async def go() -> None:
        d = dispatcher([stuck], fake, sinks, concurrency=1)
        await d.start()
        await d.submit(make_alert("a0", notify=["stuck"]))
        await d.submit(make_alert("a1", notify=["stuck"]))
        await asyncio.sleep(0.01)
        await d.close(drain_timeout_s=0.05)
        await d.submit(make_alert("a2", notify=["stuck"]))  # after close: dead-lettered, not lost

    asyncio.run(go())
    assert sorted((o.alert_id, o.delivered, o.attempts) for o in sinks.outcomes) == [
        ("a0", False, 1),
        ("a1", False, 0),
        ("a2", False, 0),
    ]
    errors = {json.loads(letter.original())["alert_id"]: letter.error for letter in sinks.letters}
    assert "interrupted: dispatcher closed (drain timeout 0.05s)" in errors["a0"]
    assert "not attempted" in errors["a1"] and "dispatcher closed" in errors["a2"]
    assert fake.closed


def test_a_failing_dead_letter_sink_is_counted_and_does_not_stop_the_worker() -> None:
    ops = hook(max_attempts=1)
    fake = FakeTransport({ops.url: [AttemptResult(500), AttemptResult(200)]})
    outcomes: list[DeliveryOutcome] = []

    def broken(_letter: DeadLetter) -> None:
        raise RuntimeError("kafka is down")

    async def go() -> WebhookDispatcher:
        async with WebhookDispatcher([ops], {}, outcomes.append, broken, transport=fake) as d:
            await d.submit(make_alert("a0"))
            await asyncio.sleep(0.02)
            await d.submit(make_alert("a1"))
        return d

    d = asyncio.run(go())
    assert [(o.alert_id, o.delivered) for o in outcomes] == [("a0", False), ("a1", True)]
    assert HEADER_SIGNATURE not in fake.calls[0].headers  # no secret: unsigned
    assert (d.metrics.of("ops").sink_errors, d.metrics.of("ops").dead_lettered) == (1, 0)


def test_constructor_checks_its_arguments() -> None:
    ops = hook()
    with pytest.raises(ValueError, match="concurrency"):
        WebhookDispatcher([ops], {}, concurrency=0)
    with pytest.raises(ValueError, match="configured twice"):
        WebhookDispatcher([ops, ops], {})
    with pytest.raises(ValueError, match="unknown webhook ids"):
        WebhookDispatcher([ops], {"other": SECRET})
    with pytest.raises(ValueError, match="resolve_webhook_secrets"):
        WebhookDispatcher([hook(secret_env="OPS_SECRET")], {})


def test_submit_before_start_is_a_programming_error() -> None:
    async def go() -> None:
        await WebhookDispatcher([hook()], {}).submit(make_alert())

    with pytest.raises(RuntimeError, match="start"):
        asyncio.run(go())
