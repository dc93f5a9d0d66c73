"""Faults on the real broker: nothing ingested is lost, no alert is duplicated.

Each test is bounded in time and stops what it started. After each fault every ingested page
must be accounted for (on ``pages.tagged`` or ``pages.deadletter``) and the alerts on the topic
must be exactly the ones the embedded engine gives for the same pages, by ``alert_id``. The
figures of each run are printed (``pytest -s``) for the closing notes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.corpus import generate
from schemas.config import load_settings
from streams.pipeline import Pipeline
from streams.sources import read_pages

from .conftest import ROOT, Deployment, Receiver, make_deployment, stop_all

pytestmark = [pytest.mark.integration, pytest.mark.fault]
PAGES = 300
KILL_PAGES = 2000


def corpus(path: Path, pages: int = PAGES, seed: int = 21) -> list[str]:
    """Write a generated corpus (with republished copies) as JSONL; return its URLs in order."""
    rows = list(generate(pages, seed=seed, with_seeds=True))
    path.write_text("".join(r.raw.model_dump_json() + "\n" for r in rows), encoding="utf-8")
    return [r.raw.url or "" for r in rows]


def expected_alerts(dep: Deployment, archive: Path) -> list[dict[str, Any]]:
    pipeline = Pipeline(load_settings(dep.config_path))
    out: list[dict[str, Any]] = []
    for result in pipeline.run(read_pages([archive], 5 * 1024 * 1024)):
        out += [json.loads(a.model_dump_json()) for a in getattr(result, "alerts", [])]
    return out


def single_partition(config: dict[str, Any]) -> None:
    """One partition per topic: the stream sees pages in file order, as the embedded run does."""
    config["kafka"]["topic_partitions"] = 1


def accounted(dep: Deployment, urls: list[str], timeout: float = 180) -> tuple[list[Any], list[Any]]:
    """Wait until every ingested URL is on pages.tagged (or a dead letter); return both topics."""
    wanted = set(urls)

    def done(records: list[Any]) -> bool:
        return wanted <= {r["page"]["url"] for r in records}

    tagged = dep.consume("pages.tagged", done, timeout=timeout)
    letters = dep.consume("pages.deadletter", lambda _: True, timeout=5)
    return tagged, letters


def report(name: str, urls: list[str], tagged: list[Any], letters: list[Any], alerts: list[Any],
           expected: list[Any]) -> dict[str, int]:
    processed = {r["page"]["url"] for r in tagged}
    firsts = Counter(a["alert_id"] for a in alerts if a["kind"] == "alert")
    wanted = {a["alert_id"] for a in expected if a["kind"] == "alert"}
    figures = {
        "ingested": len(set(urls)),
        "processed": len(processed & set(urls)),
        "reprocessed_records": len(tagged) - len(processed),
        "dead_lettered": len(letters),
        "alerts_expected": len(wanted),
        "alerts_sent": len(firsts),
        "alert_records_duplicated": sum(n - 1 for n in firsts.values()),
        "alerts_lost": len(wanted - set(firsts)),
        "alerts_unexpected": len(set(firsts) - wanted),
        "pages_lost": len(set(urls) - processed),
    }
    print(f"\nFAULT {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    return figures


def assert_nothing_lost(figures: dict[str, int]) -> None:
    assert figures["pages_lost"] == 0
    assert figures["alerts_lost"] == 0
    assert figures["alerts_unexpected"] == 0
    assert figures["alert_records_duplicated"] == 0


def test_kill_9_of_the_worker_mid_stream_loses_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    dep = make_deployment(kafka_bootstrap, tmp_path, single_partition, partitions=1)
    try:
        archive = tmp_path / "archive.jsonl"
        urls = corpus(archive, pages=KILL_PAGES)
        expected = expected_alerts(dep, archive)
        worker = dep.start_worker("w1")
        dep.cli("ingest", "--no-progress", str(archive))
        before = dep.consume("pages.tagged", lambda r: len(r) >= KILL_PAGES // 10, timeout=120, eager=True)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        print(f"\nkilled the worker with {len(before)} of {KILL_PAGES} pages seen on pages.tagged")
        dep.start_worker("w2")
        tagged, letters = accounted(dep, urls)
        want = len([a for a in expected if a["kind"] == "alert"])
        alerts = dep.consume("alerts", lambda r: len({a["alert_id"] for a in r if a["kind"] == "alert"}) >= want,
                             timeout=60)
    finally:
        stop_all(dep)
    assert_nothing_lost(report("kill -9 worker", urls, tagged, letters, alerts, expected))


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A broker of this test's own, so it can be restarted without disturbing the others."""
    env = dict(os.environ, KAFKA_LOCAL_DIR=str(tmp_path / "broker"))
    started = subprocess.run([str(ROOT / "scripts" / "kafka-local"), "start"], env=env, capture_output=True,
                             text=True, timeout=180, check=False)
    if started.returncode != 0:
        pytest.fail(f"could not start a private broker: {started.stderr[-2000:]}")
    try:
        yield started.stdout.strip().splitlines()[-1], env
    finally:
        subprocess.run([str(ROOT / "scripts" / "kafka-local"), "stop"], env=env, capture_output=True, timeout=60,
                       check=False)


def test_broker_restart_while_pages_flow_loses_nothing(own_broker: tuple[str, dict[str, str]],
                                                       tmp_path: Path) -> None:
    bootstrap, broker_env = own_broker
    dep = make_deployment(bootstrap, tmp_path, single_partition, partitions=1)
    try:
        first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
        archive = tmp_path / "archive.jsonl"
        urls = corpus(archive)
        lines = archive.read_text(encoding="utf-8").splitlines(keepends=True)
        first.write_text("".join(lines[: PAGES // 2]), encoding="utf-8")
        second.write_text("".join(lines[PAGES // 2:]), encoding="utf-8")
        expected = expected_alerts(dep, archive)
        dep.start_worker("w1")
        dep.cli("ingest", "--no-progress", str(first))
        dep.consume("pages.tagged", lambda r: len(r) >= PAGES // 4, timeout=120)
        restarted = subprocess.run([str(ROOT / "scripts" / "kafka-local"), "restart"], env=broker_env,
                                   capture_output=True, text=True, timeout=180, check=False)
        assert restarted.returncode == 0, restarted.stderr
        dep.cli("ingest", "--no-progress", str(second))
        tagged, letters = accounted(dep, urls, timeout=240)
        want = len([a for a in expected if a["kind"] == "alert"])
        alerts = dep.consume("alerts", lambda r: len({a["alert_id"] for a in r if a["kind"] == "alert"}) >= want,
                             timeout=60)
        assert all(w.poll() is None for w in dep.workers), dep.logs()  # the worker rode out the outage
    finally:
        stop_all(dep)
    assert_nothing_lost(report("broker restart", urls, tagged, letters, alerts, expected))


def hanging_alerts(letters: list[Any]) -> set[str]:
    """Alert ids whose first-alert delivery to the hanging webhook was dead-lettered."""
    return {d["source"].split("alert:")[1].split()[0] for d in letters
            if d["source"].startswith("webhook:hanging") and "event:alert" in d["source"]}


def test_a_hanging_webhook_receiver_holds_back_neither_the_others_nor_the_stream(kafka_bootstrap: str,
                                                                                  tmp_path: Path) -> None:
    healthy, hanging = Receiver(), Receiver(delay_s=3600)

    def two_receivers(config: dict[str, Any]) -> None:
        config["webhooks"] = [
            {"id": "healthy", "url": f"http://127.0.0.1:{healthy.port}/hook", "timeout_s": 2},
            {"id": "hanging", "url": f"http://127.0.0.1:{hanging.port}/hook", "timeout_s": 0.5,
             "max_attempts": 2, "backoff_initial_s": 0.1, "backoff_max_s": 0.2},
        ]
        for rule in config["rules"]:
            rule["notify"] = ["hanging", "healthy"]
        single_partition(config)

    dep = make_deployment(kafka_bootstrap, tmp_path, two_receivers, partitions=1)
    try:
        archive = tmp_path / "archive.jsonl"
        urls = corpus(archive, pages=60, seed=5)
        expected = {a["alert_id"] for a in expected_alerts(dep, archive) if a["kind"] == "alert"}
        dep.start_worker()
        dep.cli("ingest", "--no-progress", str(archive))
        tagged, letters = accounted(dep, urls)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not expected <= {e.alert_id for e in healthy.events()}:
            time.sleep(0.5)
        got = {e.alert_id for e in healthy.events() if e.event == "alert"}
        failed = dep.consume("alerts.deadletter", lambda r: len(hanging_alerts(r)) >= len(expected), timeout=60)
    finally:
        stop_all(dep)
        healthy.close()
        hanging.close()
    hanging_letters = hanging_alerts(failed)
    print(f"\nFAULT hanging receiver: pages={len(urls)}, processed={len({r['page']['url'] for r in tagged})}, "
          f"dead_lettered_pages={len(letters)}, alerts_expected={len(expected)}, delivered_to_healthy={len(got)}, "
          f"dead_lettered_deliveries_to_hanging={len(hanging_letters)}, lost={len(expected - got)}")
    assert got == expected
    assert hanging_letters == expected
    assert {r["page"]["url"] for r in tagged} >= set(urls)
