"""Faust agents: move records between topics through the stage steps. No business logic here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
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

BATCH = 128
"""Most records a pipeline agent takes through its step together."""
LINGER_S = 0.005
"""How long an agent under load waits, once per batch, for more records before it runs a short one.

Under load (it finished its previous batch less than this ago) the wait lets a batch grow;
after a quiet spell a record goes through at once, and an idle worker sets no timers."""


def register_pipeline_agents(w: WirewatchApp, steps: StageSteps, metrics: Metrics) -> None:
    """Attach the clean, dedup, tag and rules agents to the app.

    Clean, dedup and tag take, with each record, the records already waiting behind it (up to
    ``BATCH``) and run their step over them together: the stage then works through a batch with
    its code and data warm in the CPU caches, instead of record by record in turn with the other
    agents and Faust's own work. Records are acked once forwarded, so a worker that dies
    mid-batch reads them again. A table write goes to the changelog partition of the current
    event, so each record of a batch is made current before its step, as Faust does when it
    iterates a stream. A dedup window entry that reaches Kafka ahead of its page is harmless: the
    page, read again after a restart, is an exact duplicate of itself and keeps its story.

    Rules goes record by record, as Faust iterates a stream. Its step notes in the story ledger
    that a story has alerted; the alert goes straight to the producer, while Faust queues the
    ledger change for a task of its own that runs between records. A worker killed between the
    two would restart either believing an unsent alert sent or sending one again, so the two
    must stay close. Batched, a batch's ledger entries trailed its alerts (with offsets committed
    on a timer, the kill -9 fault test then saw up to 13 alerts sent twice).
    """
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
        async def run_batch(stream: Any, events: list[Any]) -> None:
            results = []
            for event in events:
                stream._set_current_event(event)
                results.append(step(event.value or b""))
            for event, result in zip(events, results, strict=True):
                await forward(stage, event, result, target)
            for event in events:
                event.ack()

        async def run(stream: Any) -> AsyncIterator[None]:
            loop = asyncio.get_running_loop()
            manual = stream.noack()
            batch: list[Any] = []
            last_batch_end = float("-inf")
            lingered = False
            async for event in manual.events():
                batch.append(event)
                if len(batch) < BATCH:
                    if not manual.channel.empty():
                        continue  # more records are waiting: take them too
                    if not lingered and loop.time() - last_batch_end < LINGER_S:
                        lingered = True
                        await asyncio.sleep(LINGER_S)
                        if not manual.channel.empty():
                            continue
                await run_batch(manual, batch)
                batch, lingered, last_batch_end = [], False, loop.time()
                yield None

        run.__name__ = f"{stage}_agent"
        w.app.agent(source, name=f"wirewatch.{stage}")(run)

    async def rules_agent(stream: Any) -> AsyncIterator[None]:
        async for event in stream.events():
            await forward("rules", event, steps.rules(event.value or b""), w.alerts)
            yield None

    agent("clean", w.raw, steps.clean, w.clean)
    agent("dedup", w.clean, steps.dedup, w.deduped)
    agent("tag", w.deduped, steps.tag, w.tagged)
    w.app.agent(w.tagged, name="wirewatch.rules")(rules_agent)


@dataclass(slots=True)
class _OpenRecord:
    event: Any
    expected: int | None = None  # deliveries started; None until submit() has said
    ended: int = 0


class _AckTracker:
    """Acks an ``alerts`` record once every delivery it started has ended (delivered or dead-lettered).

    The webhook agent reads without automatic acks, so a worker that dies with deliveries in
    flight re-reads those alerts after restart (at-least-once; receivers de-duplicate by the
    idempotency key). Outcomes are credited to the oldest open record of the same alert id and
    event kind.
    """

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], list[_OpenRecord]] = {}

    def opened(self, key: tuple[str, str], event: Any) -> _OpenRecord:
        record = _OpenRecord(event)
        self._open.setdefault(key, []).append(record)
        return record

    def expect(self, key: tuple[str, str], record: _OpenRecord, count: int) -> None:
        record.expected = count
        self._settle(key)

    def ended(self, key: tuple[str, str]) -> None:
        records = self._open.get(key)
        if not records:
            return
        target = next((r for r in records if r.expected is None or r.ended < r.expected), records[0])
        target.ended += 1
        self._settle(key)

    def _settle(self, key: tuple[str, str]) -> None:
        records = self._open.get(key, [])
        for record in [r for r in records if r.expected is not None and r.ended >= r.expected]:
            records.remove(record)
            record.event.ack()
        if not records:
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
                record = tracker.opened(key, event)
                tracker.expect(key, record, await dispatcher.submit(alert))
                yield None
        finally:
            await dispatcher.close(drain_timeout_s)

    w.app.agent(w.alerts, name="wirewatch.webhook")(webhook_agent)
