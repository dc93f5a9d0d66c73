"""Fixtures for tests against real services: a Kafka broker and worker processes.

The broker comes from ``KAFKA_BOOTSTRAP`` (``make test`` starts a local one with
``scripts/kafka-local``). Without one, these tests skip on a developer machine and FAIL in CI:
a missing broker must never pass silently.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from pydantic import SecretStr

from alerts.receiver import RECEIVER_STATE, make_app
from schemas.config import load_settings
from streams.app import ensure_topics

ROOT = Path(__file__).resolve().parents[2]
WIREWATCH = [sys.executable, "-m", "streams.cli"]


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP", "")
    if not bootstrap:
        message = "KAFKA_BOOTSTRAP is not set: run the suite with `make test`, which starts a local broker"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=15_000)
        admin.list_topics()
        admin.close()
    except KafkaError as exc:
        pytest.fail(f"Kafka broker at {bootstrap} is not reachable: {exc}")
    return bootstrap


@dataclass
class Deployment:
    """One isolated wirewatch deployment on the shared broker: its own topics and consumer group."""

    bootstrap: str
    prefix: str
    config_path: Path
    work: Path
    workers: list[subprocess.Popen[bytes]]

    def topic(self, name: str) -> str:
        return self.prefix + name

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(KAFKA_BOOTSTRAP=self.bootstrap, WIREWATCH_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
        return env

    def start_worker(self, name: str = "w1", *extra: str) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [*WIREWATCH, "worker", "--config", str(self.config_path), "--data-dir", str(self.work / f"data-{name}"),
             *extra],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        self.workers.append(proc)
        return proc

    def wait_until_ready(self, name: str, timeout: float = 120) -> None:
        """Wait for the worker ``name`` to have joined its group and recovered its state."""
        log = self.work / f"{name}.log"
        deadline = time.monotonic() + timeout
        while "[^Worker]: Ready" not in log.read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {name} not ready after {timeout} s:\n{self.logs()}")
            time.sleep(0.2)

    def stop_worker(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.work.glob("*.log")))

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*WIREWATCH, *args, "--config", str(self.config_path)], cwd=ROOT, env=self.env(),
                                capture_output=True, text=True, timeout=300, check=False)
        if check and result.returncode not in (0, 1):
            raise AssertionError(f"wirewatch {' '.join(args)} failed ({result.returncode}): {result.stderr[-3000:]}")
        return result

    def produce(self, topic: str, values: list[bytes], keys: list[bytes | None] | None = None) -> None:
        ensure_topics(load_settings(self.config_path), self.env())  # as ingest does: never a broker default
        producer = KafkaProducer(bootstrap_servers=self.bootstrap.split(","), acks="all",
                                 max_request_size=8 * 1024 * 1024)
        futures = [producer.send(self.topic(topic), value=value, key=keys[i] if keys else None)
                   for i, value in enumerate(values)]
        producer.flush(timeout=60)
        for future in futures:
            future.get(timeout=30)
        producer.close()

    def consume(self, topic: str, until: Callable[[list[Any]], bool], timeout: float = 120.0,
                eager: bool = False) -> list[Any]:
        """Read ``topic`` from the start (JSON values) until ``until(records)`` holds or time runs out.

        ``until`` is checked each time the topic has had nothing new for a second, or with ``eager``
        after every record (to act in the middle of a stream).
        """
        consumer = KafkaConsumer(
            self.topic(topic), bootstrap_servers=self.bootstrap.split(","), auto_offset_reset="earliest",
            enable_auto_commit=False, group_id=None, consumer_timeout_ms=1000,
            isolation_level="read_committed",  # as documented for readers of transactional topics
        )
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                for message in consumer:
                    records.append(json.loads(message.value))
                    if eager and until(records):
                        return records
                if until(records):
                    return records
                for proc in self.workers:
                    if proc.poll() is not None and proc.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL):
                        raise AssertionError(f"worker exited with {proc.returncode}:\n{self.logs()}")
        finally:
            consumer.close()
        return records


def partitions_by_key(bootstrap: str, topic: str) -> dict[bytes, set[int]]:
    """The partitions each key's records are in, over the whole of ``topic`` (a full name) as it is now."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap.split(","), auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=3000,
                             isolation_level="read_committed")
    found: dict[bytes, set[int]] = defaultdict(set)
    try:
        for message in consumer:
            found[message.key].add(message.partition)
    finally:
        consumer.close()
    return dict(found)


def make_deployment(bootstrap: str, work: Path, edit: Callable[[dict[str, Any]], None] | None = None,
                    partitions: int = 3) -> Deployment:
    """A deployment with its own topic prefix and group on ``bootstrap``; ``edit`` adjusts its config."""
    prefix = f"it{uuid.uuid4().hex[:8]}."
    config: dict[str, Any] = yaml.safe_load((ROOT / "wirewatch.yml").read_text(encoding="utf-8"))
    config["kafka"] = {"bootstrap": bootstrap, "topic_prefix": prefix, "topic_partitions": partitions,
                       "group_id": f"wirewatch-{prefix.rstrip('.')}"}
    config["alerts"] = {"update_min_interval_s": 0}
    config["webhooks"] = []
    for rule in config["rules"]:
        rule["notify"] = []
    if edit is not None:
        edit(config)
    path = work / "wirewatch.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return Deployment(bootstrap, prefix, path, work, [])


def stop_all(dep: Deployment) -> None:
    for proc in dep.workers:
        if proc.poll() is None:
            dep.stop_worker(proc, timeout=30)


@pytest.fixture
def deployment(kafka_bootstrap: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    marker = request.node.get_closest_marker("wirewatch_config")
    dep = make_deployment(kafka_bootstrap, tmp_path, marker.kwargs["edit"] if marker is not None else None)
    yield dep
    stop_all(dep)


class Receiver:
    """A real HTTP receiver on 127.0.0.1 in a thread of its own."""

    def __init__(self, delay_s: float = 0.0, secret: str | None = None) -> None:
        self.app = make_app(SecretStr(secret) if secret else None, delay_s=delay_s)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self.app, shutdown_timeout=0.5)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def events(self) -> list[Any]:
        return list(self.app[RECEIVER_STATE].events)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
