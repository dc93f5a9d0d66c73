"""End-to-end rows: one ``wirewatch worker`` on a real broker, fed by kafka-python.

The worker gets a throw-away deployment (its own topic prefix, consumer group, no webhooks,
updates not rate-limited). In the latency phase a consumer thread in this process reads
``pages.tagged`` and ``alerts`` and keeps, per page URL, the broker timestamp of its tagged
record and of its first alert (record timestamps are set by the producing client when it
sends, so they are the moment each stage produced its output).

* Sustained: the whole corpus is produced to ``pages.raw`` first, then the worker starts and
  drains that backlog; throughput is the pages finished (through rules, or dead-lettered) divided
  by the time from the first page cleaned to the last page finished, both read from the worker's
  ``/wirewatch/health`` counters. The worker's capacity is measured, not this process's: no
  producer and no reader of this process share the two cores with it meanwhile.
* Latency: fresh pages are offered at a paced rate; produce→alert latency of a page is its
  first alert's timestamp minus the timestamp it was sent with. The first seconds of the
  offered load are not counted (reported apart): a worker just started meets each partition's
  first transaction and the broker each new partition's first writes, which is start-up, not
  the steady state the percentiles describe.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.config import BOOTSTRAP_ENV, parse_settings
from schemas.pages import RawPage
from streams.app import TopicNames
from streams.ingest import page_key

ROOT = Path(__file__).resolve().parent.parent
OURS_WORKER = [sys.executable, "-m", "streams.cli", "worker"]
NAIVE_WORKER = [sys.executable, "-m", "bench.naive_worker", "worker"]


DRAIN_POLL_S = 0.1
"""How often the sustained phase asks the worker how far it is. At every 20 ms, answering took
about 3% of the worker's main thread; at 0.1 s the end of a drain is seen at most 0.1 s late,
which counts against the worker (under 1% of a 10,000-page drain)."""


class E2EError(RuntimeError):
    """The end-to-end run could not be carried out (worker died, never became ready...)."""


@dataclass
class _Seen:
    """What the consumer thread has read, by page URL (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tagged: dict[str, int] = field(default_factory=dict)  # url -> timestamp ms of the first tagged record
    alerts: dict[str, int] = field(default_factory=dict)  # url -> timestamp ms of the first kind=alert record
    last_alert_wall: float = 0.0


class _Reader(threading.Thread):
    def __init__(self, bootstrap: str, names: TopicNames) -> None:
        super().__init__(name="bench-reader", daemon=True)
        self.names = names
        self.seen = _Seen()
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._consumer = KafkaConsumer(
            names.tagged, names.alerts,
            bootstrap_servers=bootstrap.split(","), group_id=None, auto_offset_reset="earliest",
            enable_auto_commit=False, check_crcs=False, isolation_level="read_committed",
            fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024,
        )

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                batches = self._consumer.poll(timeout_ms=200, max_records=2000)
                for tp, records in batches.items():
                    for record in records:
                        self._take(tp.topic, record)
        except BaseException as exc:  # surfaced by the waiting side
            self.error = exc
        finally:
            self._consumer.close()

    def _take(self, topic: str, record: Any) -> None:
        seen = self.seen
        value = json.loads(record.value)
        if topic == self.names.tagged:
            url = (value.get("page") or {}).get("url")
            with seen.lock:
                if url and url not in seen.tagged:
                    seen.tagged[url] = record.timestamp
        elif topic == self.names.alerts:
            url = value.get("url")
            with seen.lock:
                seen.last_alert_wall = time.monotonic()
                if value.get("kind") == "alert" and url and (url not in seen.alerts
                                                             or record.timestamp < seen.alerts[url]):
                    seen.alerts[url] = record.timestamp


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def deployment_config(base: Path, bootstrap: str, prefix: str) -> str:
    """A copy of ``base`` for a throw-away deployment: own prefix and group, no webhooks."""
    config: dict[str, Any] = yaml.safe_load(base.read_text(encoding="utf-8"))
    kafka = dict(config.get("kafka") or {})
    kafka.update(bootstrap=bootstrap, topic_prefix=prefix, group_id=f"wirewatch-{prefix.rstrip('.')}")
    config["kafka"] = kafka
    config["webhooks"] = []
    config["alerts"] = {"update_min_interval_s": 0}
    for rule in config.get("rules") or []:
        rule["notify"] = []
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False)


class Deployment:
    """A worker process on its own topics, and the reader thread watching its outputs."""

    def __init__(self, base_config: Path, bootstrap: str, worker_argv: list[str], label: str,
                 log: Callable[[str], None]) -> None:
        self.bootstrap = bootstrap
        self.prefix = f"bench{uuid.uuid4().hex[:8]}."
        self.label = label
        self.log = log
        self.work = Path(tempfile.mkdtemp(prefix="wirewatch-bench-"))
        self.config_path = self.work / "wirewatch.yml"
        text = deployment_config(base_config, bootstrap, self.prefix)
        self.config_path.write_text(text, encoding="utf-8")
        self.settings = parse_settings(text, str(self.config_path))
        self.names = TopicNames.with_prefix(self.prefix)
        self.worker_argv = worker_argv
        self.web_port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: _Reader | None = None
        self.log_path = self.work / "worker.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({BOOTSTRAP_ENV: self.bootstrap, "WIREWATCH_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
        env.pop("WIREWATCH_WEB_PORT", None)
        return env

    def start(self) -> None:
        self.create_topics()
        self.start_reader()
        self.start_worker()

    def start_reader(self) -> None:
        """Start watching the outputs (topics created first)."""
        self.reader = _Reader(self.bootstrap, self.names)
        self.reader.start()

    def start_worker(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [*self.worker_argv, "--config", str(self.config_path), "--data-dir", str(self.work / "data"),
                 "--web-port", str(self.web_port)],
                cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
            )

    def progress(self) -> tuple[int, int]:
        """(pages started, pages finished) from the worker's health page; (0, 0) until it answers.

        Started: cleaned or dead-lettered. Finished: through the rules stage or dead-lettered; every
        page ends in exactly one of the two.
        """
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/wirewatch/health", timeout=2) as reply:
                health = json.loads(reply.read())
        except (OSError, ValueError):
            return 0, 0
        processed, dead = health.get("processed") or {}, int(health.get("dead_letters") or 0)
        return int(processed.get("clean", 0)) + dead, int(processed.get("rules", 0)) + dead

    def worker_log(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _processes(self) -> list[int]:
        """The worker's process and its descendants, if it starts any (Linux; none elsewhere)."""
        if self.proc is None:
            return []
        parents: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(parents.get(pid, []))
        return found

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the worker and its descendants have used so far (Linux; 0 elsewhere)."""
        total = 0
        for pid in self._processes():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def runqueue_wait_seconds(self) -> float:
        """Time the worker's threads spent runnable but waiting for a CPU (Linux schedstat; 0 elsewhere)."""
        total = 0
        for pid in self._processes():
            with contextlib.suppress(OSError, ValueError, IndexError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    total += int((task / "schedstat").read_text().split()[1])
        return total / 1e9

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise E2EError(f"{self.label} worker exited with {self.proc.returncode}:\n{self.worker_log()}")
        if self.reader is not None and self.reader.error is not None:
            raise E2EError(f"reader thread failed: {self.reader.error!r}")

    def stop(self) -> None:
        """SIGTERM the worker (SIGKILL after 60 s), stop the reader, delete the topics and files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.reader is not None:
            self.reader.stop.set()
            self.reader.join(timeout=10)
        self._delete_topics()
        shutil.rmtree(self.work, ignore_errors=True)

    def create_topics(self) -> None:
        """Create the deployment's topics before anyone reads them (pages.clean has one partition)."""
        n = self.settings.kafka.topic_partitions
        names = self.names
        wanted = [NewTopic(t, 1 if t == names.clean else n, 1) for t in (
            names.raw, names.clean, names.deduped, names.tagged, names.alerts, names.pages_deadletter,
            names.alerts_deadletter)]
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap.split(","), request_timeout_ms=30_000)
        try:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
        finally:
            admin.close()

    def _delete_topics(self) -> None:
        group = self.settings.kafka.group_id
        with contextlib.suppress(Exception):  # best effort: a private broker is thrown away anyway
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap.split(","), request_timeout_ms=15_000)
            try:
                mine = [t for t in admin.list_topics() if t.startswith((self.prefix, group))]
                if mine:
                    admin.delete_topics(mine)
            finally:
                admin.close()

    @property
    def seen(self) -> _Seen:
        assert self.reader is not None
        return self.reader.seen

    def producer(self, linger_ms: int) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.bootstrap.split(","), acks=1, linger_ms=linger_ms,
            batch_size=1024 * 1024, max_request_size=16 * 1024 * 1024,
            client_id=f"bench-{self.label}",
        )

    def wait_for(self, done: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            self.check_alive()
            time.sleep(interval)
        return done()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def unique_urls(pages: Sequence[RawPage]) -> list[RawPage]:
    """The pages with every URL made unique (the corpus can republish a story twice on one site)."""
    seen: set[str] = set()
    out: list[RawPage] = []
    for page in pages:
        url = page.url or f"https://no-url.example/{len(out)}"
        n = 1
        while url in seen:
            n += 1
            url = f"{page.url}?copy={n}"
        seen.add(url)
        out.append(page if url == page.url else page.model_copy(update={"url": url}))
    return out


def _encode(pages: Sequence[RawPage]) -> list[tuple[str, bytes, bytes]]:
    """(url, key, value) of each page; URLs made unique, as pages are matched to outputs by URL."""
    return [(p.url or "", page_key(p), p.model_dump_json().encode()) for p in unique_urls(pages)]


def run_e2e(
    *,
    base_config: Path,
    bootstrap: str,
    worker_argv: list[str],
    label: str,
    warmup: RawPage,
    sustained: Sequence[RawPage],
    offered: Sequence[RawPage],
    rate: float,
    ready_timeout: float,
    sustained_budget: float,
    drain_budget: float,
    log: Callable[[str], None],
    sustained_runs: int = 1,
    broker_warmup: Sequence[RawPage] = (),
    uncounted: int = 0,
) -> dict[str, Any]:
    """The sustained and the latency phase, each on a fresh deployment (no backlog carried over).

    The sustained phase runs ``sustained_runs`` times, each on a deployment of its own, and the
    fastest run counts, as in the embedded rows: this machine has bursts of load. Before them, a
    drain of ``broker_warmup`` that is not counted brings the broker to the state it has in
    service: a broker started just before serves its first ten thousand records or so with a
    cold JIT, taking up to twice the CPU it takes later, on the cores the worker needs. The
    latency phase offers all of ``offered``; the first ``uncounted`` are left out of its percentiles.
    """
    result: dict[str, Any] = {"label": label}

    def drain(name: str, pages: Sequence[RawPage]) -> dict[str, Any]:
        dep = Deployment(base_config, bootstrap, worker_argv, f"{label}-{name}", log)
        try:
            return _sustained(dep, [warmup, *pages], ready_timeout, sustained_budget)
        finally:
            dep.stop()

    if broker_warmup:
        warm = drain("broker-warmup", broker_warmup)
        result["broker_warmup"] = {"pages": warm["pages"], "pages_per_s": warm["pages_per_s"]}
        log(f"kafka {label} broker warm-up drain (not counted): {warm['pages_per_s']:.1f} pages/s")
    runs = []
    for run in range(1, sustained_runs + 1):
        runs.append(drain(f"sustained{run}", sustained))
        log(f"kafka {label} sustained run {run}: {runs[-1]['pages_per_s']:.1f} pages/s")
    result["sustained"] = max(runs, key=lambda r: (r["complete"], r["pages_per_s"]))
    result["sustained_runs"] = [r["pages_per_s"] for r in runs]
    dep = Deployment(base_config, bootstrap, worker_argv, f"{label}-latency", log)
    try:
        started = time.monotonic()
        dep.start()
        _warm_up(dep, warmup, ready_timeout)
        log(f"kafka {label} latency: worker ready in {time.monotonic() - started:.1f} s")
        result["latency"] = _latency(dep, offered, rate, drain_budget, uncounted)
    finally:
        dep.stop()
    s, lat = result["sustained"], result["latency"]
    log(f"kafka {label}: sustained {s['pages_per_s']:.1f} pages/s ({s['done']}/{s['pages']} pages); latency "
        f"p50 {lat['p50_s']:.3f} s, p99 {lat['p99_s']:.3f} s over {lat['alerted']} alerted pages"
        + ("" if lat["complete"] else f" (+{lat['censored']} still queued: lower bounds)"))
    return result


def _warm_up(dep: Deployment, page: RawPage, timeout: float) -> dict[str, Any]:
    producer = dep.producer(linger_ms=0)
    try:
        (url, key, value), = _encode([page])
        producer.send(dep.names.raw, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)
    if not dep.wait_for(lambda: url in dep.seen.tagged, timeout):
        raise E2EError(f"{dep.label} worker not ready after {timeout:.0f} s (no tagged record for the warm-up "
                       f"page):\n{dep.worker_log()}")
    return {}


def _sustained(dep: Deployment, pages: Sequence[RawPage], ready_timeout: float, budget: float) -> dict[str, Any]:
    """Produce every page, then start the worker and time how fast it takes that backlog through every stage.

    The clock starts when the worker has cleaned its first page, so its start-up is not counted,
    and stops when every page has gone through rules (or been dead-lettered); worker CPU is
    counted over the same span. The worker's counters are polled every 20 ms until its first page
    is cleaned, then every ``DRAIN_POLL_S``: each poll is an HTTP request the worker answers on
    the thread that moves its records.
    """
    records = _encode(pages)
    dep.create_topics()
    producer = dep.producer(linger_ms=20)
    try:
        t0 = time.time()
        for _, key, value in records:
            producer.send(dep.names.raw, key=key, value=value, timestamp_ms=int(time.time() * 1000))
        producer.flush(timeout=120)
        produce_s = time.time() - t0
    finally:
        producer.close(timeout=10)
    progress = (0, 0)

    def poll(done: Callable[[tuple[int, int]], bool]) -> Callable[[], bool]:
        def check() -> bool:
            nonlocal progress
            progress = dep.progress()
            return done(progress)
        return check

    started = time.monotonic()
    dep.start_worker()
    if not dep.wait_for(poll(lambda p: p[0] > 0), ready_timeout, interval=0.02):
        raise E2EError(f"{dep.label} worker cleaned nothing in {ready_timeout:.0f} s:\n{dep.worker_log()}")
    first_finished = progress[1]
    cpu0, wait0, wall0 = dep.cpu_seconds(), dep.runqueue_wait_seconds(), time.monotonic()
    dep.log(f"kafka {dep.label}: first page cleaned {wall0 - started:.1f} s after the worker started")
    complete = dep.wait_for(poll(lambda p: p[1] >= len(records)), budget, interval=DRAIN_POLL_S)
    wall = max(1e-3, time.monotonic() - wall0)
    cpu, wait = dep.cpu_seconds() - cpu0, dep.runqueue_wait_seconds() - wait0
    finished = progress[1] - first_finished
    return {"pages": len(records), "done": progress[1], "complete": complete, "seconds": wall,
            "pages_per_s": finished / wall, "produce_s": produce_s, "worker_cpu_s": cpu,
            "worker_cpu_ms_per_page": 1000 * cpu / max(1, finished), "worker_busy": cpu / wall,
            "worker_runqueue_wait": wait / wall}


def _latency(
    dep: Deployment, pages: Sequence[RawPage], rate: float, drain: float, uncounted: int = 0,
) -> dict[str, Any]:
    """Offer pages at ``rate``; wait up to ``drain`` s after the last for their tagged records.

    The first ``uncounted`` pages warm the worker up: their latencies are reported apart
    (``warmup``), and the percentiles are those of the pages after them. A page still untagged
    at the end counts with the time it has waited so far (a lower bound), so an overloaded
    worker shows as large percentiles instead of a missing measurement.
    """
    records = _encode(pages)
    sent: dict[str, int] = {}
    seen = dep.seen
    producer = dep.producer(linger_ms=0)
    try:
        t0 = time.monotonic()
        for i, (url, key, value) in enumerate(records):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now_ms = int(time.time() * 1000)
            producer.send(dep.names.raw, key=key, value=value, timestamp_ms=now_ms)
            sent[url] = now_ms
        producer.flush(timeout=60)
        offered_s = time.monotonic() - t0
    finally:
        producer.close(timeout=10)

    def tagged_count() -> int:
        with seen.lock:
            return sum(1 for url in sent if url in seen.tagged)

    complete = dep.wait_for(lambda: tagged_count() >= len(sent), drain)

    def quiet() -> bool:  # alerts follow tagged records; wait until they stop coming
        with seen.lock:
            return time.monotonic() - seen.last_alert_wall > 2.0

    dep.wait_for(quiet, 10.0)
    end_ms = int(time.time() * 1000)

    def waits(urls: Sequence[str]) -> dict[str, Any]:
        with seen.lock:
            latencies = [(seen.alerts[url] - sent[url]) / 1000.0 for url in urls if url in seen.alerts]
            censored = [(end_ms - sent[url]) / 1000.0 for url in urls if url not in seen.tagged]
        both = latencies + censored
        return {"offered": len(urls), "tagged": len(urls) - len(censored), "alerted": len(latencies),
                "censored": len(censored), "p50_s": percentile(both, 50), "p99_s": percentile(both, 99),
                "max_s": max(both, default=float("nan"))}

    urls = [url for url, _, _ in records]
    return {**waits(urls[uncounted:]), "offered_rate": len(sent) / max(offered_s, 1e-3), "complete": complete,
            "warmup": waits(urls[:uncounted])}


def bootstrap_from(environ: Mapping[str, str]) -> str | None:
    """The broker to use, from ``KAFKA_BOOTSTRAP`` (None: skip the Kafka rows)."""
    return environ.get(BOOTSTRAP_ENV) or None
