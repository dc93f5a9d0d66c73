"""The rules stage of a worker, exactly once: a batch's alerts, the story-ledger changes they made
and the input offsets they consumed are one Kafka transaction.

Why it is not a Faust agent: an agent sends its alerts and Faust sends the table's changelog
separately, so a worker killed between the two either loses an alert (the ledger says the story
alerted, the alert never left) or sends it twice (the alert left, the ledger forgot). Here a
batch either happened entirely (alerts, ledger, offsets) or not at all; after a kill, the next
owner of the partition fences the dead worker's transaction, restores the ledger from its
changelog and resumes from the committed offset.

Readers of ``alerts`` must read committed records only (``isolation.level=read_committed``), or
they may see a batch that was aborted and then written again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import ConsumerStoppedError, KafkaError
from mode import Service

from schemas.deadletter import DeadLetter
from streams.agents import located
from streams.app import TopicNames
from streams.metrics import Metrics
from streams.steps import StageSteps

log = logging.getLogger(__name__)

MAX_BATCH = 500
"""Records taken into one batch (all partitions' transactions) at most."""
TXN_RETRY_BACKOFF_MS = 20
"""Backoff of the transactional producers' retries. A transaction begun right after the previous
commit often meets CONCURRENT_TRANSACTIONS while the broker still writes that commit's markers;
aiokafka waits its default 100 ms before asking again, which lands on the alerts' latency."""


class LedgerShards(MutableMapping[str, Any]):
    """The story ledger of a worker: one shard per ``pages.tagged`` partition it owns.

    It acts as the shard selected with :meth:`select` (the partition being processed) and
    remembers which of its keys changed, for the changelog.
    """

    def __init__(self) -> None:
        self._shards: dict[int, dict[str, Any]] = {}
        self._current: dict[str, Any] = {}
        self._changed: set[str] = set()

    def restore(self, partition: int, state: dict[str, Any]) -> None:
        """Take ``state`` (read from the changelog) as the shard of ``partition``."""
        self._shards[partition] = state

    def drop(self, partition: int) -> None:
        """Forget a partition this worker no longer owns."""
        self._shards.pop(partition, None)

    def select(self, partition: int) -> None:
        """Make ``partition``'s shard the one this mapping reads and writes."""
        self._current = self._shards[partition]
        self._changed = set()

    def take_changes(self) -> list[tuple[str, Any]]:
        """The selected shard's changes since :meth:`select` or the last call: (key, value or None if deleted)."""
        changes = [(key, self._current.get(key)) for key in sorted(self._changed)]
        self._changed = set()
        return changes

    def __getitem__(self, key: str) -> Any:
        return self._current[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._current[key] = value
        self._changed.add(key)

    def __delitem__(self, key: str) -> None:
        del self._current[key]
        self._changed.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._current)

    def __len__(self) -> int:
        return len(self._current)


@dataclass(slots=True)
class _Decided:
    """A partition's batch after the rules ran: the records its transaction writes, and what it consumed."""

    tp: TopicPartition
    next_offset: int
    # (topic, key, value, partition or None for the producer's partitioner)
    sends: list[tuple[str, bytes | None, bytes | None, int | None]] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    processed: int = 0


class ExactlyOnceRules(Service):
    """Consumes ``pages.tagged``; per partition, one transactional producer and one ledger shard.

    Args:
        steps: the stage steps; its pipeline's ledger must use ``shards`` as its store.
        shards: the ledger store, filled and emptied here as partitions come and go.
        metrics: the worker's counters.
        names: topic names.
        group_id: the deployment's group id; the stage's consumer group is ``<group_id>-rules``.
        changelog: the ledger's compacted changelog topic.
        options: client connection options (``streams.app.client_options``).
        max_fetch_bytes: the largest record batch a partition fetch may return.
        producer_options: size and linger settings of the transactional producers, the same as
            the Faust app's producer (``streams.worker`` reads them from its configuration).
        commit_interval_s: a batch begins at least this long after the previous one, taking
            what arrived meanwhile (``kafka.rules_commit_interval_ms``; like Kafka Streams'
            ``commit.interval.ms``, 100 ms by default under exactly once). A transaction costs
            about the same CPU, here and in the broker, whatever it holds: under load, fewer and
            larger ones leave more of both to the other stages. A record arriving after a quiet
            spell goes at once. 0: every batch at once, for the lowest latency.
    """

    def __init__(
        self,
        *,
        steps: StageSteps,
        shards: LedgerShards,
        metrics: Metrics,
        names: TopicNames,
        group_id: str,
        changelog: str,
        options: Mapping[str, Any],
        max_fetch_bytes: int,
        producer_options: Mapping[str, Any],
        commit_interval_s: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._steps = steps
        self._shards = shards
        self._metrics = metrics
        self._names = names
        self._group = f"{group_id}-rules"
        self._changelog = changelog
        self._options = dict(options)
        self._max_fetch_bytes = max_fetch_bytes
        self._producer_options = dict(producer_options)
        self._commit_interval_s = commit_interval_s
        self._last_batch_at = float("-inf")
        # Bumped when a partition is released: records fetched across that are stale (read again
        # from the committed offset, by this worker or the partition's next owner).
        self._generation = 0
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._processed_up_to: dict[TopicPartition, int] = {}
        # Held while a batch is processed, so a rebalance never takes a partition mid-transaction.
        self._lock = asyncio.Lock()
        self._stopping = False
        self._consumer: AIOKafkaConsumer | None = None

    def lag(self) -> dict[tuple[str, int], int]:
        """Records of each owned ``pages.tagged`` partition not yet processed."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lag = {}
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is not None and tp in self._processed_up_to:
                lag[(tp.topic, tp.partition)] = max(0, end - self._processed_up_to[tp])
        return lag

    async def on_start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            group_id=self._group,
            enable_auto_commit=False,  # offsets are committed inside each batch's transaction
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_partition_fetch_bytes=self._max_fetch_bytes,
            **self._options,
        )
        self._consumer.subscribe([self._names.tagged], listener=_Rebalance(self))
        await self._consumer.start()

    async def on_stop(self) -> None:
        async with self._lock:  # the batch in progress commits first; none starts after it
            self._stopping = True
        if self._consumer is not None:
            await self._consumer.stop()
        for partition in list(self._producers):
            await self._release_partition(partition)

    @Service.task
    async def _process(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self.should_stop:
            generation = self._generation
            try:
                batches = await self._fetch(consumer)
            except ConsumerStoppedError:
                return
            async with self._lock:
                if self._stopping:
                    return
                if generation != self._generation:
                    # A rebalance came between. The fetch may have ended after it, under the new
                    # assignment, having moved the position of partitions this worker still owns
                    # past these records: read those again from the committed offset.
                    for tp in batches.keys() & consumer.assignment():
                        await self._rewind(consumer, tp)
                    continue
                decided = [self._decide(tp, records) for tp, records in batches.items()
                           if tp.partition in self._producers]
                # Each partition has its own producer: their transactions overlap, so a slow
                # commit on one partition holds up none of the others.
                await asyncio.gather(*(self._commit(consumer, batch) for batch in decided))

    async def _fetch(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[ConsumerRecord]]:
        """The records of the next batch: those waiting, and, if the previous batch began less
        than ``commit_interval_s`` ago, those that arrive until it is that old."""
        batches: dict[TopicPartition, list[ConsumerRecord]] = await consumer.getmany(
            timeout_ms=500, max_records=MAX_BATCH)
        loop = asyncio.get_running_loop()
        wait = self._last_batch_at + self._commit_interval_s - loop.time()
        if batches and wait > 0:
            await asyncio.sleep(wait)
            room = MAX_BATCH - sum(map(len, batches.values()))
            if room > 0:
                for tp, records in (await consumer.getmany(timeout_ms=0, max_records=room)).items():
                    batches.setdefault(tp, []).extend(records)
        if batches:
            self._last_batch_at = loop.time()
        return batches

    def _decide(self, tp: TopicPartition, records: Sequence[ConsumerRecord]) -> _Decided:
        """Run the rules over a partition's records: what its transaction must write."""
        self._shards.select(tp.partition)
        batch = _Decided(tp, next_offset=records[-1].offset + 1)
        for record in records:
            result = self._steps.rules(record.value or b"")
            if isinstance(result, DeadLetter):
                letter = located(result, record.topic, record.partition, record.offset)
                batch.letters.append(letter)
                batch.sends.append((self._names.pages_deadletter, record.key,
                                    letter.model_dump_json().encode(), None))
                continue
            batch.sends.extend((self._names.alerts, out.key, out.value, None) for out in result)
            batch.processed += 1
        batch.sends.extend(
            (self._changelog, json.dumps(key).encode(), None if value is None else json.dumps(value).encode(),
             tp.partition)
            for key, value in self._shards.take_changes()
        )
        return batch

    async def _commit(self, consumer: AIOKafkaConsumer, batch: _Decided) -> None:
        """Write a partition's decided batch and its offset in one transaction."""
        tp = batch.tp
        producer = self._producers[tp.partition]
        try:
            async with producer.transaction():
                for topic, key, value, partition in batch.sends:
                    await producer.send(topic, key=key, value=value, partition=partition)
                await producer.send_offsets_to_transaction({tp: batch.next_offset}, self._group)
        except KafkaError as exc:
            # The shard already holds this batch's decisions, which did not happen: rebuild the
            # partition from what did (its changelog and committed offset), then go on from there.
            log.warning("rules: the transaction for %s failed (%r); restoring the partition", tp, exc)
            await self._release_partition(tp.partition)
            await self._take_partitions([tp])
            await self._rewind(consumer, tp)
            return
        self._processed_up_to[tp] = batch.next_offset
        self._metrics.processed["rules"] += batch.processed
        for letter in batch.letters:
            self._metrics.dead_lettered(letter)

    async def _rewind(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        """Read ``tp`` again from its committed offset, where its ledger shard stands."""
        committed = await consumer.committed(tp)
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)

    async def _take_partitions(self, tps: Sequence[TopicPartition]) -> None:
        """Own these partitions: fence their previous owner's transactions, then restore their shards."""
        for tp in tps:
            producer = AIOKafkaProducer(
                transactional_id=f"{self._group}-{tp.partition}",
                retry_backoff_ms=TXN_RETRY_BACKOFF_MS,
                **self._producer_options,
                **self._options,
            )
            await producer.start()  # aborts whatever transaction a dead owner left open
            for topic in (self._names.alerts, self._names.pages_deadletter, self._changelog):
                await producer.partitions_for(topic)  # metadata now, not on the partition's first alert
            self._producers[tp.partition] = producer
        for partition, state in (await self._read_changelog([tp.partition for tp in tps])).items():
            self._shards.restore(partition, state)

    async def _read_changelog(self, partitions: Sequence[int]) -> dict[int, dict[str, Any]]:
        reader = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, isolation_level="read_committed",
                                  max_partition_fetch_bytes=self._max_fetch_bytes, **self._options)
        tps = [TopicPartition(self._changelog, p) for p in partitions]
        states: dict[int, dict[str, Any]] = {p: {} for p in partitions}
        await reader.start()
        try:
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            ends = await reader.end_offsets(tps)
            while pending := [tp for tp in tps if await reader.position(tp) < ends[tp]]:
                for tp, records in (await reader.getmany(*pending, timeout_ms=1000)).items():
                    state = states[tp.partition]
                    for record in records:
                        key = json.loads(record.key or b"null")
                        if record.value is None:
                            state.pop(key, None)
                        else:
                            state[key] = json.loads(record.value)
        finally:
            await reader.stop()
        return states

    async def _release_partition(self, partition: int) -> None:
        self._generation += 1
        self._processed_up_to = {tp: n for tp, n in self._processed_up_to.items() if tp.partition != partition}
        producer = self._producers.pop(partition, None)
        if producer is not None:
            await producer.stop()
        self._shards.drop(partition)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, rules: ExactlyOnceRules) -> None:
        self._rules = rules

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._rules._lock:
            for tp in revoked:
                await self._rules._release_partition(tp.partition)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        async with self._rules._lock:
            await self._rules._take_partitions(sorted(assigned))
