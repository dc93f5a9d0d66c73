"""The rules stage: its ledger store (one shard per partition, and the changes a transaction must
carry) and how it gathers records into batches."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError

from streams.app import TopicNames
from streams.exactly_once import ExactlyOnceRules, LedgerShards
from streams.metrics import Metrics


def shards_with(**partitions: dict[str, object]) -> LedgerShards:
    shards = LedgerShards()
    for name, state in partitions.items():
        shards.restore(int(name.removeprefix("p")), dict(state))
    return shards


def test_each_partition_reads_and_writes_its_own_shard() -> None:
    shards = shards_with(p0={"story:a": 1}, p1={"story:b": 2})
    shards.select(0)
    shards["story:c"] = 3
    assert dict(shards) == {"story:a": 1, "story:c": 3}
    shards.select(1)
    assert dict(shards) == {"story:b": 2}
    assert "story:c" not in shards


def test_changes_name_each_written_key_once_and_deleted_keys_with_none() -> None:
    shards = shards_with(p0={"story:a": 1, "story:b": 2})
    shards.select(0)
    shards["story:a"] = 10
    shards["story:a"] = 11
    del shards["story:b"]
    assert shards.take_changes() == [("story:a", 11), ("story:b", None)]
    assert shards.take_changes() == []


def test_selecting_a_partition_starts_with_no_changes() -> None:
    shards = shards_with(p0={}, p1={})
    shards.select(0)
    shards["story:a"] = 1
    shards.select(1)
    assert shards.take_changes() == []


def test_a_dropped_partition_cannot_be_selected_until_restored() -> None:
    shards = shards_with(p0={"story:a": 1})
    shards.drop(0)
    with pytest.raises(KeyError):
        shards.select(0)
    shards.restore(0, {"story:a": 2})
    shards.select(0)
    assert shards["story:a"] == 2


class ScriptedConsumer:
    """A consumer whose ``getmany`` returns (or raises) scripted results in turn, noting when it was called."""

    def __init__(self, *results: dict[TopicPartition, list[str]] | Exception) -> None:
        self._results = list(results)
        self.calls: list[float] = []

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[str]]:
        self.calls.append(time.monotonic())
        result = self._results.pop(0) if self._results else {}
        if isinstance(result, Exception):
            raise result
        return {tp: list(records) for tp, records in result.items()}


class RecordingSteps:
    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def rules(self, data: bytes) -> list[object]:
        self.seen.append(data)
        return []


TP = TopicPartition("pages.tagged", 0)


def rules_stage(commit_interval_s: float, steps: object | None = None) -> ExactlyOnceRules:
    return ExactlyOnceRules(
        steps=steps or RecordingSteps(), shards=LedgerShards(), metrics=Metrics(),  # type: ignore[arg-type]
        names=TopicNames.with_prefix(""), group_id="test", changelog="test-story-ledger-changelog",
        options={}, max_fetch_bytes=1 << 20, producer_options={}, commit_interval_s=commit_interval_s,
    )


async def two_batches(rules: ExactlyOnceRules, consumer: ScriptedConsumer) -> list[dict[TopicPartition, list[str]]]:
    return [await rules._fetch(consumer), await rules._fetch(consumer)]  # type: ignore[arg-type]


def test_a_batch_after_a_quiet_spell_is_taken_at_once() -> None:
    rules = rules_stage(commit_interval_s=30.0)
    consumer = ScriptedConsumer({TP: ["r1"]}, {TP: ["r2"]})
    batch = asyncio.run(rules._fetch(consumer))  # type: ignore[arg-type]
    assert batch == {TP: ["r1"]}
    assert len(consumer.calls) == 1


def test_a_batch_soon_after_the_previous_one_takes_what_arrives_until_the_interval_has_passed() -> None:
    rules = rules_stage(commit_interval_s=0.2)
    consumer = ScriptedConsumer({TP: ["r1"]}, {TP: ["r2"]}, {TP: ["r3"], TopicPartition("pages.tagged", 1): ["r4"]})

    first, second = asyncio.run(two_batches(rules, consumer))
    assert first == {TP: ["r1"]}
    assert second == {TP: ["r2", "r3"], TopicPartition("pages.tagged", 1): ["r4"]}
    assert consumer.calls[2] - consumer.calls[0] >= 0.19


def test_with_no_commit_interval_every_batch_goes_at_once() -> None:
    rules = rules_stage(commit_interval_s=0.0)
    consumer = ScriptedConsumer({TP: ["r1"]}, {TP: ["r2"]}, {TP: ["r3"]})

    assert asyncio.run(two_batches(rules, consumer)) == [{TP: ["r1"]}, {TP: ["r2"]}]
    assert len(consumer.calls) == 2


class NullProducer:
    """A transactional producer that accepts everything and writes nothing."""

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def send(self, *args: object, **kwargs: object) -> None:
        return None

    async def send_offsets_to_transaction(self, *args: object) -> None:
        return None

    async def stop(self) -> None:
        return None


Fetched = dict[TopicPartition, list[ConsumerRecord]]


class PartitionLog:
    """A consumer of one partition: ``getmany`` returns the records past its position and moves it
    on, as aiokafka's does; a rebalance that keeps the partition here does not move it back."""

    def __init__(self, records: list[ConsumerRecord], committed: int | None) -> None:
        self.records = records
        self.position = 0
        self.committed_offset = committed
        self.fetches = 0

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> Fetched:
        self.fetches += 1
        if self.fetches > 3:
            raise ConsumerStoppedError()
        records = [r for r in self.records if r.offset >= self.position]
        if records:
            self.position = records[-1].offset + 1
        return {TP: records} if records else {}

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offset

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position = offset

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.position = 0


@pytest.mark.parametrize("committed", [None, 7], ids=["never-committed", "committed"])
def test_records_fetched_across_a_rebalance_are_read_again_from_the_committed_offset(committed: int | None) -> None:
    steps = RecordingSteps()
    rules = rules_stage(commit_interval_s=0.0, steps=steps)
    rules._producers[TP.partition] = NullProducer()  # type: ignore[assignment]
    rules._shards.restore(TP.partition, {})

    class RebalancedWhileFetching(PartitionLog):
        async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> Fetched:
            if not self.fetches:  # the partition is revoked, then assigned to this worker again
                await rules._release_partition(TP.partition)
                rules._producers[TP.partition] = NullProducer()  # type: ignore[assignment]
                rules._shards.restore(TP.partition, {})
            return await super().getmany(timeout_ms, max_records)

    record = ConsumerRecord(TP.topic, TP.partition, 7, 0, 0, None, b"{}", None, 0, 2, [])
    rules._consumer = RebalancedWhileFetching([record], committed)  # type: ignore[assignment]
    asyncio.run(ExactlyOnceRules._process(rules))  # type: ignore[arg-type]
    assert steps.seen == [b"{}"]  # dropped from the fetch that spanned the rebalance, then read again once
