"""A worker's helper process for its stateless stages: cleaning and tagging.

Python runs a process's Python code on one core at a time, and a worker's agents, Kafka clients,
dedup window and rules stage all share that core. Cleaning and tagging need no Kafka and keep no
state that must survive a restart, so a worker hands their batches of records, as bytes, to one
helper process and gets the records to forward back: the stages run on a second core while the
worker moves records and runs the stateful stages. The agents still read, forward and ack every
record (``streams.agents``); only the step runs elsewhere.

One process, not a pool: the clean stage learns each outlet's template lines from the pages it
sees (``OutletTemplates``), and one process sees them all, in order, as in the embedded pipeline.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

from mode import Service

from schemas.config import Settings
from schemas.deadletter import DeadLetter, Reason
from streams.metrics import Metrics
from streams.pipeline import Pipeline
from streams.steps import Record, StageSteps

log = logging.getLogger(__name__)

OffloadedStage = Literal["clean", "tag"]
StepResult = list[Record] | DeadLetter

CHUNK_BYTES = 8 * 1024 * 1024
"""Most bytes of records sent to the helper in one call: a batch of large pages goes in pieces,
so neither process holds hundreds of megabytes of copies at once."""

PARENT_CHECK_S = 0.5
"""How often the helper checks that its worker still runs."""

_steps: dict[str, Callable[[bytes], StepResult]] = {}
"""In the helper process: the step of each offloaded stage."""


def _start_helper(pipeline: type[Pipeline], settings: Settings, log_level: int) -> None:
    logging.basicConfig(level=log_level, format="[%(asctime)s] [%(process)s] [%(levelname)s] %(message)s")
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="exit-with-worker", daemon=True).start()
    steps = StageSteps(pipeline(settings))
    _steps.update(clean=steps.clean, tag=steps.tag)
    gc.freeze()  # as in the worker (streams.worker): no collection needs to walk what lives as long as the helper


def _exit_with(worker: int) -> None:
    """End the helper once its worker is gone: a worker killed outright (``kill -9``) cannot stop
    it, and it would otherwise wait for work forever."""
    while os.getppid() == worker:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _run_in_helper(stage: OffloadedStage, values: Sequence[bytes]) -> list[StepResult]:
    step = _steps[stage]
    return [step(value) for value in values]


def chunks(values: Sequence[bytes], max_bytes: int) -> list[Sequence[bytes]]:
    """``values`` cut, in order, into runs of at most ``max_bytes`` (a larger value is a run alone)."""
    runs: list[Sequence[bytes]] = []
    start, size = 0, 0
    for end, value in enumerate(values):
        if end > start and size + len(value) > max_bytes:
            runs.append(values[start:end])
            start, size = end, 0
        size += len(value)
    if start < len(values):
        runs.append(values[start:])
    return runs


class StageProcess(Service):
    """Runs the clean and tag steps of a worker in one helper process (started with the worker).

    If the helper dies (killed, out of memory, a crash in a parser's C code), a new one takes the
    same records again. If a batch kills it twice, the batch is split in halves, and so on, until
    the record that kills it is alone; that record is dead-lettered (``internal_error``) and the
    others go through. A new helper relearns the outlets' templates from the pages it sees.

    Calls may overlap, so the helper has the next batch at hand when it ends one. A dying helper
    fails every call in it; each is then retried alone (no other call in the helper), so a batch
    that was only there at the time goes through, and the one that kills it again is split.

    Args:
        settings: the worker's configuration, copied to the helper when it starts.
        metrics: the worker's counters (``stage_process_restarts``).
        pipeline: the class whose stage objects the helper builds (the benchmark's baseline
            passes its own); the helper imports it by name.
    """

    def __init__(
        self, settings: Settings, metrics: Metrics, pipeline: type[Pipeline] = Pipeline, **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._settings = settings
        self._pipeline = pipeline
        self._metrics = metrics
        self._pool: ProcessPoolExecutor | None = self._new_pool()  # its process starts with the first call
        self._alone = asyncio.Lock()  # held by a call that must run alone (``_submit_alone``)
        self._calls = 0  # calls in the helper
        self._no_calls = asyncio.Event()
        self._no_calls.set()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the worker has threads (Faust's consumer thread), and a forked child
        # could inherit one of their locks held.
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_helper,
            initargs=(self._pipeline, self._settings, logging.getLogger().getEffectiveLevel()),
        )

    def start_process(self) -> None:
        """Start the helper process now and wait until it is ready (its imports take a second or
        more). A worker calls it before Faust starts, so that Faust's start, its first fetches and
        the agents' first batches are not slowed by it."""
        if self._pool is not None:
            self._pool.submit(_run_in_helper, "clean", []).result()

    async def on_stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def run(self, stage: OffloadedStage, values: Sequence[bytes]) -> list[StepResult]:
        """The step's result for each of ``values``, in order. Several calls may run at once."""
        results: list[StepResult] = []
        for chunk in chunks(values, CHUNK_BYTES):
            results.extend(await self._run_isolating(stage, chunk, retried=False))
        return results

    async def _run_isolating(
        self, stage: OffloadedStage, values: Sequence[bytes], *, retried: bool,
    ) -> list[StepResult]:
        try:
            if retried:
                return await self._submit_alone(stage, values)
            return await self._submit(stage, values)
        except BrokenProcessPool:
            pass
        if not retried:
            return await self._run_isolating(stage, values, retried=True)
        if len(values) == 1:
            return [DeadLetter.of(values[0], stage=stage, error_type=Reason.INTERNAL_ERROR,
                                  error="the stage process died on this record, twice")]
        half = len(values) // 2
        return [*await self._run_isolating(stage, values[:half], retried=True),
                *await self._run_isolating(stage, values[half:], retried=True)]

    async def _submit_alone(self, stage: OffloadedStage, values: Sequence[bytes]) -> list[StepResult]:
        """Submit ``values`` once every other call has ended, and start no other call meanwhile:
        if the helper dies now, it died on these records, never on a bystander's."""
        async with self._alone:
            await self._no_calls.wait()
            return await self._call(stage, values)

    async def _submit(self, stage: OffloadedStage, values: Sequence[bytes]) -> list[StepResult]:
        while self._alone.locked():  # a call that runs alone is waiting or running: after it
            async with self._alone:
                pass
        return await self._call(stage, values)

    async def _call(self, stage: OffloadedStage, values: Sequence[bytes]) -> list[StepResult]:
        pool = self._pool
        if pool is None:  # the worker is stopping; the batch's records stay unacked
            raise asyncio.CancelledError("the stage process has stopped")
        self._calls += 1
        self._no_calls.clear()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _run_in_helper, stage, values)
        except BrokenProcessPool:
            if pool is self._pool:  # every call in the dead helper fails: the first starts the next
                self._replace_pool(stage, len(values))
            raise
        finally:
            self._calls -= 1
            if not self._calls:
                self._no_calls.set()

    def _replace_pool(self, stage: str, records: int) -> None:
        self._metrics.stage_process_restarts += 1
        log.error("the stage process died during a %s batch of %d records; starting another (restart %d)",
                  stage, records, self._metrics.stage_process_restarts)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
