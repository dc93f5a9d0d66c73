"""The Faust application: the one module that knows the broker, the topic names and the tables.

Topology (DESIGN §1)::

    pages.raw ──clean──▶ pages.clean ──dedup──▶ pages.deduped ──tag──▶ pages.tagged ──rules──▶ alerts
        (N partitions)     (1 partition)         (N, key=story)         (N, key=story)        (N, key=alert id)
                                                                                                 │
    pages.deadletter ◀── anything a stage rejects            alerts.deadletter ◀── webhook ◀────┘

* ``clean`` and ``tag`` are stateless and scale out over N partitions across workers.
* ``dedup`` compares each page with every page of the window, so its input has one partition
  and its state (the ``dedup-window`` table) is global: one worker owns it at a time, the
  others take over on failure (standby replicas keep a warm copy).
* ``rules`` holds story suppression state keyed, like its input, by story: all copies of a
  story reach the same partition, so suppression is exact while the work spreads over N
  partitions. It runs outside Faust, exactly once (``streams.exactly_once``): a batch's alerts,
  its story-ledger changes and its input offsets are one Kafka transaction.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_kafka
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent, FlowControlQueue
from pydantic import SecretStr

from schemas.config import BOOTSTRAP_ENV, KafkaConfig, Settings
from schemas.errors import WirewatchError

RAW = "pages.raw"
CLEAN = "pages.clean"
DEDUPED = "pages.deduped"
TAGGED = "pages.tagged"
ALERTS = "alerts"
PAGES_DEADLETTER = "pages.deadletter"
ALERTS_DEADLETTER = "alerts.deadletter"
# The dedup stage compares each page with the whole window, so its input is one partition.
DEDUP_PARTITIONS = 1


FETCH_MAX_WAIT_MS = 50
"""How long the broker may hold a worker's fetch request open while its partitions have fewer than
``FETCH_MIN_BYTES`` of new records. Faust fixes it at 1,500 ms, and a consumer has one fetch in
flight per broker: a partition drained meanwhile waits for that fetch to return. A worker feeds
its own next stage through Kafka, so under load its agents sat idle for a tenth to a fifth of the
time at 1,500 ms; at 50 ms they do not, and an idle worker asks the broker 20 times a second
(under 3% of a core; the broker about as much)."""

FETCH_MIN_BYTES = 256 * 1024
"""How many bytes of new records let the broker answer a worker's fetch before ``FETCH_MAX_WAIT_MS``.
Kafka's default, one byte, answers every fetch as soon as one record arrives: at 100 pages/s a
worker's four input topics took a fetch, a hand-over from Faust's consumer thread and an agent
batch for nearly every record, and the worker's process used 0.58-0.61 of a core. Waiting for a
batch, it used 0.40-0.41 and the p99 produce→alert latency fell from 0.64-1.04 s to 0.45-0.60 s
(p50 rose from 0.20 to 0.30 s). Under load a fetch fills at once, so throughput is unchanged."""


COMMIT_INTERVAL_S = 1.0
"""How often the Faust agents commit their consumed offsets. A worker that crashes re-reads at
most this much of its input; cleaning, dedup and tagging decide a record read twice the same way."""

COMMIT_EVERY_NEVER = 2**31 - 1
"""Faust can also commit after every N acks, but its delivery loop stops to wait for that commit.
At N = 100 (three acks per page, so a dozen commits a second) one worker sustained 339-393 pages/s
in 5,000-page drains; with commits by ``COMMIT_INTERVAL_S`` alone, 393-466."""


STREAM_BUFFER_MAXSIZE = 1024
"""Records an agent's input buffer holds at most."""

MAX_POLL_RECORDS = STREAM_BUFFER_MAXSIZE - math.floor(STREAM_BUFFER_MAXSIZE / FlowControlQueue.pressure_high_ratio)
"""Most records a worker takes from its consumer at once: what an agent's buffer holds beyond the
mark where Faust stops fetching for it (205 records). One loop hands every fetched record to its
agent, and a buffer that is full makes it wait, with every other agent's records behind it. The
rest of a poll is still handed over after a buffer passes the mark, and a poll was unbounded: a
worker draining a backlog of ``pages.raw`` filled the clean agent's buffer again and again, and
its dedup and tag agents, their own input waiting, sat idle for up to two seconds at a time. A
poll that fits never waits, and the stalls went. In ten paired drains of 10,000 pages, one
worker's throughput rose by a median 7% (from -10% to +51%: this machine's speed varies by as
much from one minute to the next)."""


class _ConsumerThread(faust_kafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # both read when the consumer starts
        consumer._fetch_min_bytes = FETCH_MIN_BYTES
        return consumer


class _Consumer(faust_kafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _FlowControl(FlowControlEvent):
    """Faust's flow control, except that resuming flow that is not suspended keeps the stream buffers.

    Resuming clears every stream buffer, to drop records fetched before a rebalance. But
    recovery resumes flow a second time after it has resumed the stream partitions, and the
    records fetched in between were dropped from the buffers unread. A worker that started on a
    backlog lost some: a lone hole at the committed offset was then committed over (Faust lets
    the commit pass one, where a transaction marker may sit), a longer one held the commit back
    until the next restart. Records fetched while flow is active belong to the current
    assignment, and are kept.
    """

    def resume(self) -> None:
        if not self.is_active():
            super().resume()


class _Transport(faust_kafka.Transport):
    Consumer = _Consumer


class _FaustApp(faust.App):
    """A Faust app whose consumer fetches with ``FETCH_MIN_BYTES`` and ``FETCH_MAX_WAIT_MS``, and whose
    flow control keeps what the streams were given when flow is resumed without a suspend."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return _FlowControl(loop=self.loop)


def ledger_changelog(group_id: str) -> str:
    """The compacted topic of the rules stage's story ledger: one partition per ``pages.tagged`` partition."""
    return f"{group_id}-story-ledger-changelog"


class KafkaSettingsError(WirewatchError):
    """Kafka connection settings are incomplete (e.g. a SASL password variable is unset)."""


class KafkaUnavailableError(WirewatchError):
    """The broker could not be reached or refused a request."""


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Topic names, with the configured prefix applied."""

    raw: str
    clean: str
    deduped: str
    tagged: str
    alerts: str
    pages_deadletter: str
    alerts_deadletter: str

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        """All topic names, each prefixed by ``prefix`` (for several deployments on one cluster)."""
        return cls(*(prefix + name for name in (RAW, CLEAN, DEDUPED, TAGGED, ALERTS,
                                                 PAGES_DEADLETTER, ALERTS_DEADLETTER)))


def bootstrap_servers(kafka: KafkaConfig, environ: Mapping[str, str]) -> str:
    """The bootstrap servers: ``$KAFKA_BOOTSTRAP`` overrides ``kafka.bootstrap``."""
    return environ.get(BOOTSTRAP_ENV) or kafka.bootstrap


def sasl_password(kafka: KafkaConfig, environ: Mapping[str, str]) -> SecretStr | None:
    """The SASL password from the variable named by ``kafka.sasl_password_env``."""
    if kafka.sasl_mechanism is None:
        return None
    if not kafka.sasl_password_env or not environ.get(kafka.sasl_password_env):
        raise KafkaSettingsError(
            f"kafka.sasl_password_env: set it to the name of an environment variable holding the "
            f"{kafka.sasl_mechanism} password (currently {kafka.sasl_password_env or 'unset'})"
        )
    return SecretStr(environ[kafka.sasl_password_env])


def _ssl_context(kafka: KafkaConfig) -> ssl.SSLContext | None:
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=kafka.ssl_cafile)
    if kafka.ssl_certfile:
        context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile)
    return context


def client_options(kafka: KafkaConfig, environ: Mapping[str, str]) -> dict[str, Any]:
    """Connection options for kafka-python clients (ingest, replay) and aiokafka ones (the rules
    stage), which take the same names."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(kafka, environ).split(","),
        "security_protocol": kafka.security_protocol,
    }
    password = sasl_password(kafka, environ)
    if password is not None:
        options.update(sasl_mechanism=kafka.sasl_mechanism, sasl_plain_username=kafka.sasl_username,
                       sasl_plain_password=password.get_secret_value())
    context = _ssl_context(kafka)
    if context is not None:
        options["ssl_context"] = context
    return options


def ensure_topics(settings: Settings, environ: Mapping[str, str]) -> None:
    """Create wirewatch's topics with the configured partitions, if they do not exist yet.

    Workers call it before Faust starts, so every agent subscribes to a topic that exists (an
    agent whose topic is missing at start sits idle until the next rebalance); ingest and replay
    call it so pages produced before any worker runs land in a topic with the right partition
    count rather than a broker default.
    """
    kafka = settings.kafka
    names = TopicNames.with_prefix(kafka.topic_prefix)
    wanted = [
        NewTopic(name, DEDUP_PARTITIONS if name == names.clean else kafka.topic_partitions, kafka.replication_factor)
        for name in (names.raw, names.clean, names.deduped, names.tagged, names.alerts,
                     names.pages_deadletter, names.alerts_deadletter)
    ]
    wanted.append(NewTopic(ledger_changelog(kafka.group_id), kafka.topic_partitions, kafka.replication_factor,
                           topic_configs={"cleanup.policy": "compact"}))
    options = client_options(kafka, environ)
    try:
        admin = KafkaAdminClient(**options, client_id="wirewatch-admin", request_timeout_ms=30_000)
    except KafkaError as exc:
        raise KafkaUnavailableError(f"cannot reach Kafka at {options['bootstrap_servers']}: {exc}") from None
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them first
                admin.create_topics(missing)
    finally:
        admin.close()


def _faust_credentials(kafka: KafkaConfig, environ: Mapping[str, str]) -> Any:
    password = sasl_password(kafka, environ)
    context = _ssl_context(kafka)
    if password is not None:
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=password.get_secret_value(),
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def _json_schema() -> Any:
    """Table entries are JSON on their changelog topics: string keys, JSON-compatible values."""
    return faust.Schema(key_type=str, key_serializer="json", value_serializer="json")


@dataclass(slots=True)
class WirewatchApp:
    """The Faust app with its topics and its table, built from settings at the entry point."""

    app: faust.App
    names: TopicNames
    raw: Any
    clean: Any
    deduped: Any
    tagged: Any
    alerts: Any
    pages_deadletter: Any
    alerts_deadletter: Any
    dedup_window: Any


def create_app(
    settings: Settings,
    environ: Mapping[str, str],
    *,
    data_dir: Path,
    web_port: int | None = None,
) -> WirewatchApp:
    """Build the Faust app, its topics and its table (no agents: see ``streams.agents``).

    Args:
        settings: validated configuration.
        environ: the environment, read here once (bootstrap override, SASL password).
        data_dir: where Faust keeps its local state.
        web_port: port of Faust's web server (health, metrics); None disables it.
    """
    kafka = settings.kafka
    brokers = [f"kafka://{host.strip()}" for host in bootstrap_servers(kafka, environ).split(",") if host.strip()]
    app = _FaustApp(
        kafka.group_id,
        broker=brokers,
        broker_credentials=_faust_credentials(kafka, environ),
        store="memory://",
        datadir=str(data_dir),
        topic_partitions=kafka.topic_partitions,
        topic_replication_factor=kafka.replication_factor,
        table_standby_replicas=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_host="127.0.0.1",
        producer_max_request_size=max(1_048_576, settings.limits.max_page_bytes * 2),
        consumer_max_fetch_size=max(4_194_304, settings.limits.max_page_bytes * 2),
        # Pages are 5-50 KB: with the default 16 KB batches every record is a request of its own.
        producer_max_batch_size=1_048_576,
        producer_linger=0.005,
        broker_commit_every=COMMIT_EVERY_NEVER,
        broker_commit_interval=COMMIT_INTERVAL_S,
        stream_buffer_maxsize=STREAM_BUFFER_MAXSIZE,
        broker_max_poll_records=MAX_POLL_RECORDS,
    )
    names = TopicNames.with_prefix(kafka.topic_prefix)
    partitions = kafka.topic_partitions

    def topic(name: str, partition_count: int = partitions) -> Any:
        return app.topic(name, partitions=partition_count, key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw")

    return WirewatchApp(
        app=app,
        names=names,
        raw=topic(names.raw),
        clean=topic(names.clean, DEDUP_PARTITIONS),
        deduped=topic(names.deduped),
        tagged=topic(names.tagged),
        alerts=topic(names.alerts),
        pages_deadletter=topic(names.pages_deadletter),
        alerts_deadletter=topic(names.alerts_deadletter),
        dedup_window=app.Table("dedup-window", default=None, partitions=DEDUP_PARTITIONS, schema=_json_schema()),
    )
