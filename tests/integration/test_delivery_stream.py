"""A worker delivers alerts to a real webhook receiver: signed, once per story, updates for copies."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.corpus import make_sites, render, republish, seed_stories

from .conftest import ROOT, WIREWATCH, Deployment

pytestmark = pytest.mark.integration
SECRET = "integration-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


PORT = free_port()


def _deliver_to_receiver(config: dict[str, Any]) -> None:
    config["webhooks"] = [{"id": "ops", "url": f"http://127.0.0.1:{PORT}/hook", "secret_env": "WW_TEST_SECRET",
                           "max_attempts": 3, "backoff_initial_s": 0.1, "backoff_max_s": 0.5}]
    for rule in config["rules"]:
        rule["notify"] = ["ops"]


def received() -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/received", timeout=5) as response:
        data: list[dict[str, Any]] = json.load(response)
        return data


def wait_for(predicate: Any, timeout: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = received()
        if predicate(events):
            return events
        time.sleep(0.5)
    return events


@pytest.mark.wirewatch_config(edit=_deliver_to_receiver)
def test_worker_delivers_one_signed_alert_per_story_and_updates_for_copies(deployment: Deployment) -> None:
    env = deployment.env() | {"WW_TEST_SECRET": SECRET, "WIREWATCH_WEBHOOK_SECRET": SECRET}
    receiver = subprocess.Popen([*WIREWATCH, "demo-receiver", "--port", str(PORT), "--secret-env", "WW_TEST_SECRET"],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                received()
                break
            except OSError:
                time.sleep(0.2)
        deployment.env = lambda: env  # type: ignore[method-assign]
        deployment.start_worker()

        seed = ROOT / "seeds" / "000_4910a1d9556ff153.txt"
        deployment.cli("ingest", "--no-progress", str(seed))
        first = wait_for(lambda ev: len({e["alert_id"] for e in ev}) >= 3)
        alert_ids = {e["alert_id"] for e in first if e["event"] == "alert"}
        assert len(alert_ids) == 3  # tracked-actor, militia-violence, threat-in-comments

        story = next(s for s in seed_stories() if s.story_id == seed.stem)
        rng = random.Random(5)
        copies = deployment.work / "copies.jsonl"
        copies.write_text("".join(
            render(site, republish(story, rng, site.name), datetime.now(UTC), copy_of=story.story_id).model_dump_json()
            + "\n" for site in make_sites(rng)[:2]), encoding="utf-8")
        deployment.cli("ingest", "--no-progress", str(copies))
        events = wait_for(lambda ev: sum(e["event"] == "update" for e in ev) >= 2)
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)

    alerts = [e for e in events if e["event"] == "alert"]
    updates = [e for e in events if e["event"] == "update"]
    assert sorted(e["alert_id"] for e in alerts) == sorted(alert_ids)  # copies raised no second alert
    assert {e["alert_id"] for e in updates} <= alert_ids
    assert max(len(e["payload"]["also_reported_by"]) for e in updates) == 2
    assert all(e["payload"]["alert_id"] == e["alert_id"] for e in events)
