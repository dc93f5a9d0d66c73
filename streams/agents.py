"""Faust agents: move records between topics through the stage steps. No business logic here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from schemas.deadletter import DeadLetter
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
