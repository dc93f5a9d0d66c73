"""Faust agents: move records between topics through the stage steps. No business logic here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from pydantic import SecretStr, ValidationError

from alerts.delivery import DeliveryOutcome, WebhookDispatcher
from schemas.alerts import Alert
from schemas.config import Webhook
from schemas.deadletter import DeadLetter, Reason
from streams.app import WirewatchApp
from streams.metrics import Metrics
from streams.steps import Record, StageSteps

log = logging.getLogger(__name__)

Step = Callable[[bytes], "list[Record] | DeadLetter"]


def register_pipeline_agents(w: WirewatchApp, steps: StageSteps, metrics: Metrics) -> None:
    """Attach the clean, dedup, tag and rules agents to the app."""
    warned: set[tuple[str, str]] = set()

    async def forward(stage: str, event: Any, result: list[Record] | DeadLetter, target: Any) -> None:
        if isinstance(result, DeadLetter):
            message = event.message
            letter = result.model_copy(update={"source": f"{message.topic}[{message.partition}]@{message.offset}"})
            await w.pages_deadletter.send(key=message.key, value=letter.model_dump_json().encode())
            metrics.dead_letters[(letter.stage, letter.error_type.value)] += 1
            kind = (letter.stage, letter.error_type.value)
            if kind not in warned:  # once per kind, not once per record
                warned.add(kind)
                log.warning("dead-lettered %s at %s: %s (%s)", letter.source, letter.stage,
                            letter.error_type.value, letter.error)
            return
        for record in result:
            await target.send(key=record.key, value=record.value)
        metrics.processed[stage] += 1

    def agent(stage: str, source: Any, step: Step, target: Any) -> None:
        async def run(stream: Any) -> AsyncIterator[None]:
            async for event in stream.events():
                await forward(stage, event, step(event.value or b""), target)
                yield None

        run.__name__ = f"{stage}_agent"
        w.app.agent(source, name=f"wirewatch.{stage}")(run)

    agent("clean", w.raw, steps.clean, w.clean)
    agent("dedup", w.clean, steps.dedup, w.deduped)
    agent("tag", w.deduped, steps.tag, w.tagged)
    agent("rules", w.tagged, steps.rules, w.alerts)


class _AckTracker:
    """Acks an ``alerts`` record once every delivery it started has ended (delivered or dead-lettered).

    The webhook agent reads without automatic acks, so a worker that dies with deliveries in
    flight re-reads those alerts after restart (at-least-once; receivers de-duplicate by the
    idempotency key). Outcomes are credited to the oldest open record of the same alert id and
    event kind.
    """

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], list[list[Any]]] = {}

    def opened(self, key: tuple[str, str], event: Any) -> list[Any]:
        entry: list[Any] = [event, None, 0]  # event, expected deliveries (None until known), ended
        self._open.setdefault(key, []).append(entry)
        return entry

    def expect(self, key: tuple[str, str], entry: list[Any], count: int) -> None:
        entry[1] = count
        self._settle(key)

    def ended(self, key: tuple[str, str]) -> None:
        entries = self._open.get(key)
        if not entries:
            return
        target = next((e for e in entries if e[1] is None or e[2] < e[1]), entries[0])
        target[2] += 1
        self._settle(key)

    def _settle(self, key: tuple[str, str]) -> None:
        entries = self._open.get(key, [])
        for entry in [e for e in entries if e[1] is not None and e[2] >= e[1]]:
            entries.remove(entry)
            entry[0].ack()
        if not entries:
            self._open.pop(key, None)


def register_webhook_agent(
    w: WirewatchApp,
    webhooks: Sequence[Webhook],
    secrets: Mapping[str, SecretStr],
    metrics: Metrics,
    drain_timeout_s: float = 10.0,
) -> None:
    """Attach the webhook agent: alerts → signed POSTs; failures after the last retry → alerts.deadletter.

    Each webhook has its own queue and workers (``WebhookDispatcher``), so a slow or dead
    receiver delays neither the others nor the pipeline; when its queue is full, further
    deliveries to it are dead-lettered at once rather than holding the stream.
    """
    tracker = _AckTracker()

    async def on_outcome(outcome: DeliveryOutcome) -> None:
        metrics.deliveries[(outcome.webhook_id, "delivered" if outcome.delivered else "failed")] += 1
        tracker.ended((outcome.alert_id, outcome.kind))

    async def on_dead_letter(letter: DeadLetter) -> None:
        await w.alerts_deadletter.send(value=letter.model_dump_json().encode())

    dispatcher = WebhookDispatcher(webhooks, secrets, on_outcome, on_dead_letter)

    async def webhook_agent(stream: Any) -> AsyncIterator[None]:
        await dispatcher.start()
        try:
            async for event in stream.noack().events():
                try:
                    alert = Alert.model_validate_json(event.value or b"")
                except ValidationError as exc:
                    letter = DeadLetter.of(event.value or b"", stage="deliver", error_type=Reason.INVALID_RECORD,
                                           error=f"not an Alert: {exc.errors()[0]['msg']}")
                    await w.alerts_deadletter.send(value=letter.model_dump_json().encode())
                    event.ack()
                    continue
                metrics.alerts[alert.kind] += 1
                key = (alert.alert_id, alert.kind)
                entry = tracker.opened(key, event)
                tracker.expect(key, entry, await dispatcher.submit(alert))
                yield None
        finally:
            await dispatcher.close(drain_timeout_s)

    w.app.agent(w.alerts, name="wirewatch.webhook")(webhook_agent)
