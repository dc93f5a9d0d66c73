"""Replaying history through today's configuration: ``wirewatch replay``.

History comes from files (folders, JSONL, WARC) or from a Kafka topic between two positions.
``--dry-run`` (the default) runs the embedded pipeline in this process, with a fresh dedup
window, and says what would fire — and, given a baseline (the ``alerts`` topic or a JSONL file
of alerts), which alerts are new, gone or the same. ``--produce`` re-drives the pages into
``pages.raw`` for the workers instead; they judge them against their live dedup window and story
ledger, so stories they have already alerted on do not alert again.
"""

from __future__ import annotations

import json
import signal
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from schemas.alerts import Alert
from schemas.config import KafkaConfig
from schemas.deadletter import DeadLetter
from schemas.errors import WirewatchError
from schemas.pages import RawPage
from streams.app import client_options
from streams.decode import decode_raw_record
from streams.errors import RejectedPage

DiffStatus = str  # "new" | "gone" | "same"


class ReplayError(WirewatchError):
    """A replay cannot start: bad positions, unknown topic, unreadable baseline."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a topic replay starts or stops: one offset for all partitions, per-partition offsets, or a time."""

    offset: int | None = None
    per_partition: tuple[tuple[int, int], ...] = ()
    at: datetime | None = None

    @classmethod
    def parse(cls, text: str) -> Position:
        """``123`` (every partition), ``0:120,1:98`` (per partition) or an ISO time ``2026-11-01T00:00Z``.

        Raises:
            ReplayError: the text is none of these.
        """
        value = text.strip()
        if value.isdigit():
            return cls(offset=int(value))
        if ":" in value and all(p.count(":") == 1 and all(x.strip().isdigit() for x in p.split(":"))
                                for p in value.split(",")):
            return cls(per_partition=tuple(
                (int(p.split(":")[0]), int(p.split(":")[1])) for p in value.split(",")))
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ReplayError(
                f"{text!r}: expected an offset (123), offsets per partition (0:120,1:98) or an ISO time "
                "(2026-11-01T00:00:00Z)") from None
        if moment.tzinfo is None:
            raise ReplayError(f"{text!r}: give a time zone (e.g. a trailing Z for UTC)")
        return cls(at=moment)


@dataclass(slots=True)
class Progress:
    """How far a replay got: pages read from files, or the next offset of each partition."""

    pages: int = 0
    offsets: dict[int, int] = field(default_factory=dict)

    def to_json(self) -> str:
        """The resume point as JSON (what ``--resume`` reads back)."""
        return json.dumps({"pages": self.pages, "offsets": {str(p): o for p, o in sorted(self.offsets.items())}})

    @classmethod
    def load(cls, path: Path) -> Progress:
        """Read a resume point written by an earlier, interrupted replay."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(pages=int(data["pages"]), offsets={int(p): int(o) for p, o in data["offsets"].items()})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReplayError(f"{path}: not a replay checkpoint ({exc})") from None


def skip_pages(items: Iterable[RawPage | DeadLetter], count: int) -> Iterator[RawPage | DeadLetter]:
    """Items after the first ``count`` (resuming a file replay)."""
    for index, item in enumerate(items):
        if index >= count:
            yield item


class TopicRange:
    """The records of a topic between two positions, read with kafka-python (no consumer group).

    Args:
        kafka: connection settings.
        environ: the environment (bootstrap override, SASL password).
        topic: the topic to read.
        start: first position (inclusive); None = the beginning.
        until: last position (exclusive); None = the end of each partition when the replay starts.
        resume: offsets to continue from (they win over ``start``).
    """

    def __init__(self, kafka: KafkaConfig, environ: Mapping[str, str], topic: str, *,
                 start: Position | None, until: Position | None, resume: Mapping[int, int] | None = None) -> None:
        self.topic = topic
        try:
            self._consumer = KafkaConsumer(**client_options(kafka, environ), group_id=None,
                                           enable_auto_commit=False, consumer_timeout_ms=2000,
                                           max_partition_fetch_bytes=16 * 1024 * 1024)
        except KafkaError as exc:
            raise ReplayError(f"cannot reach Kafka: {exc}") from None
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            self._consumer.close()
            raise ReplayError(f"topic {topic!r} does not exist")
        self.partitions = [TopicPartition(topic, p) for p in sorted(partitions)]
        first = self._consumer.beginning_offsets(self.partitions)
        last = self._consumer.end_offsets(self.partitions)
        self.start = {tp.partition: max(first[tp], self._resolve(start, tp, first[tp])) for tp in self.partitions}
        self.end = {tp.partition: min(last[tp], self._resolve(until, tp, last[tp])) for tp in self.partitions}
        for partition, offset in (resume or {}).items():
            if partition in self.start:
                self.start[partition] = max(self.start[partition], offset)

    def _resolve(self, position: Position | None, tp: TopicPartition, default: int) -> int:
        if position is None:
            return default
        if position.offset is not None:
            return position.offset
        if position.per_partition:
            return dict(position.per_partition).get(tp.partition, default)
        assert position.at is not None
        found = self._consumer.offsets_for_times({tp: int(position.at.timestamp() * 1000)})[tp]
        if found is None:  # no record at or after that time: the position is the partition's end
            return int(self._consumer.end_offsets([tp])[tp])
        return int(found.offset)

    @property
    def total(self) -> int:
        """How many records the range holds."""
        return sum(max(0, self.end[p] - self.start[p]) for p in self.start)

    def records(self, progress: Progress) -> Iterator[tuple[int, int, bytes]]:
        """``(partition, offset, value)`` of every record in the range, updating ``progress``."""
        todo = [tp for tp in self.partitions if self.start[tp.partition] < self.end[tp.partition]]
        progress.offsets.update(self.start)
        if not todo:
            return
        self._consumer.assign(todo)
        for tp in todo:
            self._consumer.seek(tp, self.start[tp.partition])
        remaining = set(todo)
        while remaining:
            batches = self._consumer.poll(timeout_ms=2000, max_records=500)
            for tp, messages in batches.items():
                for message in messages:
                    if message.offset >= self.end[tp.partition]:
                        break
                    progress.offsets[tp.partition] = message.offset + 1
                    yield tp.partition, message.offset, message.value or b""
                if progress.offsets[tp.partition] >= self.end[tp.partition] and tp in remaining:
                    remaining.discard(tp)
                    self._consumer.pause(tp)
            for tp in list(remaining):
                if self._consumer.position(tp) >= self.end[tp.partition]:
                    progress.offsets[tp.partition] = self.end[tp.partition]
                    remaining.discard(tp)

    def close(self) -> None:
        """Release the consumer."""
        self._consumer.close()


def pages_from_records(records: Iterable[tuple[int, int, bytes]], topic: str,
                       max_page_bytes: int) -> Iterator[RawPage | DeadLetter]:
    """Decode topic records to pages; records that are not pages become dead letters naming their offset."""
    for partition, offset, value in records:
        source = f"{topic}[{partition}]@{offset}"
        try:
            page = decode_raw_record(value, max_page_bytes)
        except RejectedPage as exc:
            yield DeadLetter.of(value, stage="ingest", error_type=exc.reason, error=exc.message, source=source)
            continue
        yield page if page.source else page.model_copy(update={"source": source})


def read_alert_baseline(lines: Iterable[bytes | str]) -> dict[str, Alert]:
    """First alerts (``kind == "alert"``) by id, from JSON lines or topic values; others are skipped."""
    baseline: dict[str, Alert] = {}
    for line in lines:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            data.pop("diff", None)
            alert = Alert.model_validate(data)
        except (ValueError, TypeError):
            continue
        if alert.kind == "alert":
            baseline.setdefault(alert.alert_id, alert)
    return baseline


def topic_alerts(kafka: KafkaConfig, environ: Mapping[str, str], topic: str) -> dict[str, Alert]:
    """The alerts recorded on the ``alerts`` topic (the whole topic)."""
    source = TopicRange(kafka, environ, topic, start=None, until=None)
    try:
        return read_alert_baseline(value for _, _, value in source.records(Progress()))
    finally:
        source.close()


class Diff:
    """Compares a replay's first alerts with a baseline as they come, in memory bounded by the baseline.

    An alert is ``new`` or ``same`` by its id; a baseline alert is ``gone`` when the page it
    fired on was replayed and no replayed alert has its id.
    """

    def __init__(self, baseline: Mapping[str, Alert]) -> None:
        self.baseline = baseline
        self._baseline_docs = {a.doc_id for a in baseline.values()}
        self._replayed_docs: set[str] = set()
        self._seen: set[str] = set()
        self.new = 0
        self.same = 0

    def page(self, doc_id: str) -> None:
        """Note that a page was replayed."""
        if doc_id in self._baseline_docs:
            self._replayed_docs.add(doc_id)

    def alert(self, alert: Alert) -> str:
        """``new`` or ``same`` for a replayed alert (updates count as their first alert)."""
        if alert.alert_id in self.baseline:
            if alert.kind == "alert":
                self._seen.add(alert.alert_id)
                self.same += 1
            return "same"
        if alert.kind == "alert":
            self.new += 1
        return "new"

    def gone(self) -> list[Alert]:
        """Baseline alerts on replayed pages that the replay did not raise."""
        return [a for a_id, a in self.baseline.items() if a_id not in self._seen and a.doc_id in self._replayed_docs]


@dataclass(slots=True)
class _RuleRows:
    severity: str
    kinds: Counter[str] = field(default_factory=Counter)
    rows: deque[str] = field(default_factory=lambda: deque(maxlen=TABLE_ROWS_PER_RULE))


TABLE_ROWS_PER_RULE = 50


class RuleTable:
    """One table per rule, for people: counts, then a line per alert (the last ``TABLE_ROWS_PER_RULE``).

    Memory is bounded by the number of rules, not of pages, so a replay of months of history
    can still print its summary.
    """

    def __init__(self) -> None:
        self._rules: dict[str, _RuleRows] = {}

    def add(self, alert: Alert, status: str = "") -> None:
        """Count an alert and, for a first alert, keep its line."""
        rule = self._rules.setdefault(alert.rule_id, _RuleRows(alert.severity))
        rule.kinds[alert.kind] += 1
        if alert.kind == "alert":
            published = alert.published_at.strftime("%Y-%m-%d %H:%M") if alert.published_at else "-"
            rule.rows.append(f"  {published:<16}  {(alert.outlet or '-')[:24]:<24}  {status:<4}  "
                             f"{(alert.title or '-')[:90]}")

    def render(self, gone: Iterable[Alert] = ()) -> str:
        """The tables, then the gone alerts."""
        out = []
        for rule_id in sorted(self._rules):
            rule = self._rules[rule_id]
            first = rule.kinds["alert"]
            out.append(f"{rule_id} ({rule.severity}): {first} alerts, {rule.kinds['update']} updates")
            out.append(f"  {'published':<16}  {'outlet':<24}  {'diff':<4}  title")
            if first > len(rule.rows):
                out.append(f"  ... {first - len(rule.rows)} earlier alerts not shown")
            out.extend(rule.rows)
            out.append("")
        for alert in gone:
            out.append(f"gone: {alert.rule_id} {alert.alert_id} {(alert.title or '-')[:90]}")
        return "\n".join(out).rstrip()


class GracefulStop:
    """Turns SIGINT/SIGTERM into a flag checked between pages, so a replay stops cleanly."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> GracefulStop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def until_stopped(items: Iterable[Any], stop: GracefulStop, on_item: Callable[[], None]) -> Iterator[Any]:
    """Items until a stop is requested; ``on_item`` runs after each one is handed out."""
    for item in items:
        if stop.requested:
            return
        yield item
        on_item()
