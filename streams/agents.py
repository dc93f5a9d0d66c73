"""Faust agents: move records between topics through the stage steps. No business logic here."""

from __future__ import annotations

import asyncio
from collections import deque
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
from streams.stage_process import OffloadedStage, StageProcess, StepResult
from streams.steps import Headers, Record, StageSteps

Step = Callable[[bytes, Headers | None], StepResult]


BATCH = 128
"""Most records a pipeline agent takes through its step together."""

HELPER_DEPTH = 2
"""Batches a pipeline agent may have in the helper process at once: while the helper works
through one, the agent forwards the results of the one before, so neither waits for the other."""


def register_pipeline_agents(
    w: WirewatchApp, steps: StageSteps, metrics: Metrics, helper: StageProcess | None = None,
) -> None:
    """Attach the clean, dedup and tag agents to the app (rules: see ``streams.exactly_once``).

    An agent takes, with each record, the records already waiting behind it (up to ``BATCH``),
    steps through them all, then forwards the results and acks the records. Under load a stage
    so works through a batch with its code and data warm in the CPU caches, instead of record by
    record in turn with the other agents and Faust's own work. It never waits for a batch to
    fill: a lone record goes through at once.

    A table write goes to the changelog partition of the current event, so each record is made
    current before its step, as Faust does record by record. A dedup window entry that reaches
    Kafka before its page's output is harmless: the page, read again after a crash, is an exact
    duplicate of itself and keeps its story.

    With a ``helper``, the clean and tag agents' batches run there (``streams.stage_process``),
    up to ``HELPER_DEPTH`` of an agent's at once. Results are still forwarded, and records acked,
    in the order they were read; when no more records wait, every batch in the helper is finished
    before the agent waits for the next record, so a lone record is not held back.
    """

    async def forward(stage: str, event: Any, result: list[Record] | DeadLetter, target: Any) -> None:
        if isinstance(result, DeadLetter):
            message = event.message
            letter = located(result, message.topic, message.partition, message.offset)
            await w.pages_deadletter.send(key=message.key, value=letter.model_dump_json().encode())
            metrics.dead_lettered(letter)
            return
        for record in result:
            await target.send(key=record.key, value=record.value, headers=list(record.headers) or None)
        metrics.processed[stage] += 1

    def agent(stage: str, source: Any, step: Step, target: Any, offloaded: OffloadedStage | None = None) -> None:
        async def run(stream: Any) -> AsyncIterator[None]:
            manual = stream.noack()
            batch: list[Any] = []
            # Batches given to the helper, oldest first, with their results to come.
            in_helper: deque[tuple[list[Any], asyncio.Future[list[StepResult]]]] = deque()

            async def finish(done: list[Any], results: list[StepResult]) -> None:
                for queued, result in zip(done, results, strict=True):
                    await forward(stage, queued, result, target)
                for queued in done:
                    queued.ack()

            try:
                async for event in manual.events():
                    batch.append(event)
                    if len(batch) < BATCH and not manual.channel.empty():
                        continue
                    if helper is None or offloaded is None:
                        results: list[StepResult] = []
                        for queued in batch:
                            manual._set_current_event(queued)
                            results.append(step(queued.value or b"", queued.headers))
                        await finish(batch, results)
                    else:
                        values = [queued.value or b"" for queued in batch]
                        in_helper.append((batch, asyncio.ensure_future(helper.run(offloaded, values))))
                        while in_helper and (len(in_helper) >= HELPER_DEPTH or manual.channel.empty()):
                            done, results_to_come = in_helper.popleft()
                            await finish(done, await results_to_come)
                    batch = []
                    yield None
            finally:
                for _, results_to_come in in_helper:  # their records stay unacked: read again
                    results_to_come.cancel()

        run.__name__ = f"{stage}_agent"
        w.app.agent(source, name=f"wirewatch.{stage}")(run)

    def without_headers(step: Callable[[bytes], StepResult]) -> Step:
        return lambda value, _headers: step(value)

    agent("clean", w.raw, without_headers(steps.clean), w.clean, offloaded="clean")
    agent("dedup", w.clean, steps.dedup, w.deduped)
    agent("tag", w.deduped, without_headers(steps.tag), w.tagged, offloaded="tag")


def located(letter: DeadLetter, topic: str, partition: int, offset: int) -> DeadLetter:
    """The dead letter with the record it came from as its source."""
    return letter.model_copy(update={"source": f"{topic}[{partition}]@{offset}"})


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
