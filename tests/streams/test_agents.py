"""The pipeline agents forward each record's result in order; the webhook agent acks an alert
record only when every delivery it started has ended."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from schemas.config import Settings
from streams.agents import _AckTracker, register_pipeline_agents
from streams.app import create_app
from streams.metrics import Metrics
from streams.pipeline import Pipeline
from streams.stage_process import StageProcess
from streams.steps import StageSteps


def raw_record(body: str) -> bytes:
    return json.dumps({"outlet": "example", "content_type": "text/plain", "body": body}).encode()


@pytest.mark.parametrize("in_stage_process", [False, True], ids=["in-process", "stage-process"])
def test_records_waiting_together_are_forwarded_in_order_with_dead_letters_located(
    settings: Settings, tmp_path: Path, in_stage_process: bool
) -> None:
    w = create_app(settings, {}, data_dir=tmp_path, web_port=None)
    metrics = Metrics()
    helper = StageProcess(settings, metrics) if in_stage_process else None
    register_pipeline_agents(w, StageSteps(Pipeline(settings)), metrics, helper)
    sent: list[tuple[str, dict[str, Any]]] = []

    def recorder(topic: str) -> Any:
        async def send(key: bytes | None = None, value: bytes = b"", **_: Any) -> None:
            sent.append((topic, json.loads(value)))
        return send

    w.clean.send = recorder("clean")
    w.pages_deadletter.send = recorder("deadletter")
    bodies = [f"Story {n}: the council met on Tuesday and voted on the budget. " * 20 for n in range(3)]

    async def feed() -> None:
        async with w.app.agents["wirewatch.clean"].test_context() as agent:
            await agent.put(raw_record(bodies[0]), wait=False)
            await agent.put(b"not json", wait=False)
            await agent.put(raw_record(bodies[1]), wait=False)
            await agent.put(raw_record(bodies[2]))  # returns once the agent has taken them all
        if helper is not None:
            assert helper._pool is not None and helper._pool._processes  # the batches ran there
            await helper.on_stop()

    asyncio.run(feed())
    assert [topic for topic, _ in sent] == ["clean", "deadletter", "clean", "clean"]
    assert [value["body"][:8] for topic, value in sent if topic == "clean"] == ["Story 0:", "Story 1:", "Story 2:"]
    assert sent[1][1]["error_type"] == "invalid_json"
    assert sent[1][1]["source"].endswith("@1")
    assert metrics.processed["clean"] == 3
    assert metrics.dead_letters[("clean", "invalid_json")] == 1


class FakeEvent:
    def __init__(self) -> None:
        self.acked = 0

    def ack(self) -> bool:
        self.acked += 1
        return True


def test_a_record_is_acked_after_its_last_delivery_ends() -> None:
    tracker = _AckTracker()
    event = FakeEvent()
    record = tracker.opened(("a1", "alert"), event)
    tracker.ended(("a1", "alert"))  # an outcome can arrive before submit() returns
    tracker.expect(("a1", "alert"), record, 2)
    assert event.acked == 0
    tracker.ended(("a1", "alert"))
    assert event.acked == 1


def test_a_record_with_nothing_to_deliver_is_acked_at_once() -> None:
    tracker = _AckTracker()
    event = FakeEvent()
    tracker.expect(("a2", "update"), tracker.opened(("a2", "update"), event), 0)
    assert event.acked == 1


def test_outcomes_are_credited_to_the_oldest_open_record_of_the_same_event() -> None:
    tracker = _AckTracker()
    first, second = FakeEvent(), FakeEvent()
    tracker.expect(("a3", "update"), tracker.opened(("a3", "update"), first), 1)
    tracker.expect(("a3", "update"), tracker.opened(("a3", "update"), second), 1)
    tracker.ended(("a3", "update"))
    assert (first.acked, second.acked) == (1, 0)
    tracker.ended(("a3", "update"))
    assert (first.acked, second.acked) == (1, 1)
