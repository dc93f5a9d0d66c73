"""Producing pages to Kafka with kafka-python: ``wirewatch ingest``.

Keys are the page URL, or a hash of its content when it has none, so copies of one URL land on
one partition. Every send is confirmed before the command exits; input that cannot be read goes
to ``pages.deadletter`` with its reason, and is reported on stderr.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kafka import KafkaProducer
from kafka.errors import KafkaError
from tqdm import tqdm

from schemas.config import Settings
from schemas.deadletter import DeadLetter
from schemas.pages import RawPage
from streams.app import KafkaUnavailableError, TopicNames, client_options, ensure_topics
from streams.sources import read_pages

log = logging.getLogger(__name__)


@dataclass(slots=True)
class IngestReport:
    """What an ingest run produced."""

    produced: int = 0
    rejected: int = 0


def page_key(page: RawPage) -> bytes:
    """The record key of a page: its URL, else a hash of its body."""
    if page.url:
        return page.url.encode("utf-8")
    return hashlib.blake2b(page.body.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest().encode()


def produce_pages(
    items: Iterable[RawPage | DeadLetter],
    settings: Settings,
    environ: Mapping[str, str],
    *,
    topic: str | None = None,
    stderr: TextIO,
    progress: bool = True,
    total: int | None = None,
    on_item: Callable[[], None] | None = None,
) -> IngestReport:
    """Produce pages to ``topic`` (default ``pages.raw``) and dead letters to ``pages.deadletter``.

    Every record is confirmed by the broker before this returns.

    Raises:
        KafkaUnavailableError: the broker cannot be reached or did not confirm the records.
    """
    names = TopicNames.with_prefix(settings.kafka.topic_prefix)
    target = topic or names.raw
    ensure_topics(settings, environ)
    options: dict[str, Any] = client_options(settings.kafka, environ)
    try:
        producer = KafkaProducer(
            **options,
            acks="all",
            linger_ms=20,
            retries=5,
            max_request_size=max(1_048_576, settings.limits.max_page_bytes * 2),
            client_id="wirewatch-ingest",
        )
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot reach Kafka at {options['bootstrap_servers']}: {exc}") from None
    report = IngestReport()
    futures = []
    bar = tqdm(desc=f"→ {target}", unit=" pages", file=stderr, disable=not progress, dynamic_ncols=True,
               total=total)
    try:
        for item in items:
            if isinstance(item, DeadLetter):
                report.rejected += 1
                print(f"wirewatch: {item.source}: rejected ({item.error_type.value}): {item.error}", file=stderr)
                futures.append(producer.send(names.pages_deadletter, value=item.model_dump_json().encode()))
            else:
                futures.append(producer.send(target, key=page_key(item), value=item.model_dump_json().encode()))
                report.produced += 1
            bar.update(1)
            if on_item is not None:
                on_item()
            if len(futures) >= 10_000:  # bound memory on long runs: confirm in batches
                _confirm(producer, futures)
        _confirm(producer, futures)
    except KafkaError as exc:
        raise KafkaUnavailableError(f"Kafka did not confirm the records: {exc}") from None
    finally:
        bar.close()
        producer.close(timeout=10)
    return report


def _confirm(producer: KafkaProducer, futures: list[Any]) -> None:
    producer.flush(timeout=120)
    for future in futures:
        future.get(timeout=60)
    futures.clear()


def ingest(
    paths: Iterable[Path],
    settings: Settings,
    environ: Mapping[str, str],
    *,
    topic: str | None = None,
    stderr: TextIO,
    progress: bool = True,
) -> IngestReport:
    """Produce every page under ``paths`` to ``topic`` (default ``pages.raw``), confirmed.

    Raises:
        KafkaUnavailableError: the broker cannot be reached or did not confirm the records.
    """
    items = read_pages(paths, settings.limits.max_page_bytes)
    return produce_pages(items, settings, environ, topic=topic, stderr=stderr, progress=progress)
