"""The stage process runs the clean and tag steps in a real helper process, gives what the steps
give in the worker's own process, and survives the helper dying."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from schemas.config import Settings
from schemas.deadletter import DeadLetter, Reason
from streams import stage_process
from streams.metrics import Metrics
from streams.pipeline import Pipeline
from streams.stage_process import StageProcess, StepResult, chunks
from streams.steps import Record, StageSteps


def raw_record(path: Path) -> bytes:
    return json.dumps({"outlet": path.stem, "content_type": "text/plain",
                       "fetched_at": "2026-11-21T08:00:00Z", "body": path.read_text()}).encode()


def _dies_on_poison(stage: str, values: Sequence[bytes]) -> list[StepResult]:
    """A helper's step that kills its process on the record b"poison" (a crash in C code, say)."""
    if b"poison" in values:
        os._exit(1)
    return [[Record(b"key", value.upper())] for value in values]


def helper_pid(helper: StageProcess) -> int:
    pool = helper._pool
    assert pool is not None and pool._processes
    return next(iter(pool._processes))


async def stopped(helper: StageProcess) -> None:
    await helper.on_stop()


def test_chunks_cut_values_in_order_by_size() -> None:
    values = [b"a" * 3, b"b" * 3, b"c" * 5, b"d", b"e" * 9]
    assert chunks(values, 6) == [values[0:2], values[2:4], values[4:5]]
    assert chunks(values, 100) == [values]
    assert chunks([], 6) == []


def test_helper_cleans_and_tags_like_the_steps_in_process(settings: Settings, seed_paths: list[Path]) -> None:
    local = StageSteps(Pipeline(settings))
    raws = [raw_record(path) for path in seed_paths] + [b"not json"]

    async def run() -> tuple[list[StepResult], list[StepResult]]:
        helper = StageProcess(settings, Metrics())
        try:
            cleaned = await helper.run("clean", raws)
            deduped = [local.dedup(result[0].value) for result in cleaned if isinstance(result, list)]
            tagged = await helper.run("tag", [result[0].value for result in deduped if isinstance(result, list)])
            return cleaned, tagged
        finally:
            await stopped(helper)

    cleaned, tagged = asyncio.run(run())
    local_cleaned = [local.clean(raw) for raw in raws]
    assert [r for r in cleaned if isinstance(r, list)] == [r for r in local_cleaned if isinstance(r, list)]
    assert len(cleaned) == len(raws) == 4
    letter = cleaned[-1]
    assert isinstance(letter, DeadLetter) and letter.error_type == Reason.INVALID_JSON
    assert len(tagged) == 3
    entities = {mention["entity_id"] for result in tagged if isinstance(result, list)
                for mention in json.loads(result[0].value)["mentions"]}
    assert "qais-al-khazali" in entities


def test_a_killed_helper_is_replaced_and_the_next_batch_goes_through(settings: Settings) -> None:
    metrics = Metrics()

    async def run() -> list[StepResult]:
        helper = StageProcess(settings, metrics)
        try:
            helper.start_process()
            os.kill(helper_pid(helper), signal.SIGKILL)
            await asyncio.sleep(0.5)  # the pool notices its process is gone
            return await helper.run("clean", [b"not json"])
        finally:
            await stopped(helper)

    results = asyncio.run(run())
    assert isinstance(results[0], DeadLetter) and results[0].error_type == Reason.INVALID_JSON
    assert metrics.stage_process_restarts == 1


WORKER_THAT_STARTS_A_HELPER = """
import asyncio, sys, time
from pathlib import Path
from schemas.config import load_settings
from streams.metrics import Metrics
from streams.stage_process import StageProcess

async def main() -> None:
    helper = StageProcess(load_settings(Path(sys.argv[1])), Metrics())
    helper.start_process()
    print(next(iter(helper._pool._processes)), flush=True)
    time.sleep(60)

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_the_helper_exits_when_its_worker_is_killed_outright(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER_THAT_STARTS_A_HELPER)
    root = Path(__file__).resolve().parents[2]
    worker = subprocess.Popen([sys.executable, str(script), str(root / "wirewatch.yml")], cwd=root,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert worker.stdout is not None
        helper = int(worker.stdout.readline())
        worker.kill()
        worker.wait(timeout=10)
        deadline = time.monotonic() + 5 * stage_process.PARENT_CHECK_S + 5
        while Path(f"/proc/{helper}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{helper}").exists() or "Z" in Path(f"/proc/{helper}/stat").read_text().split()[2]
    finally:
        worker.kill()


def test_a_record_that_kills_the_helper_twice_is_dead_lettered_alone(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage_process, "_run_in_helper", _dies_on_poison)
    metrics = Metrics()
    values = [b"one", b"two", b"three", b"poison", b"five"]

    async def run() -> list[StepResult]:
        helper = StageProcess(settings, metrics)
        try:
            return await helper.run("clean", values)
        finally:
            await stopped(helper)

    results = asyncio.run(run())
    assert results[:3] == [[Record(b"key", b"ONE")], [Record(b"key", b"TWO")], [Record(b"key", b"THREE")]]
    assert results[4] == [Record(b"key", b"FIVE")]
    letter = results[3]
    assert isinstance(letter, DeadLetter)
    assert (letter.stage, letter.error_type, letter.original()) == ("clean", Reason.INTERNAL_ERROR, b"poison")
    # the whole batch twice, then halves: [one two] [three poison five] -> [three] [poison five] -> ...
    assert metrics.stage_process_restarts == 5


def test_a_batch_in_the_helper_with_one_that_kills_it_goes_through(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage_process, "_run_in_helper", _dies_on_poison)
    metrics = Metrics()

    async def run() -> tuple[list[StepResult], list[StepResult]]:
        helper = StageProcess(settings, metrics)
        try:
            helper.start_process()
            deadly, bystander = await asyncio.gather(helper.run("clean", [b"poison"]),
                                                     helper.run("tag", [b"one", b"two"]))
            return deadly, bystander
        finally:
            await stopped(helper)

    deadly, bystander = asyncio.run(run())
    assert bystander == [[Record(b"key", b"ONE")], [Record(b"key", b"TWO")]]
    letter = deadly[0]
    assert isinstance(letter, DeadLetter) and letter.original() == b"poison"
    # once with the bystander (one restart, however many calls saw it die), once alone
    assert metrics.stage_process_restarts == 2
