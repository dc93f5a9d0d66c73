"""`wirewatch run --deliver` posts signed alerts to a real receiver; a missing secret stops it at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, Receiver

pytestmark = pytest.mark.integration


def config_for(receiver: Receiver, tmp_path: Path) -> Path:
    config = yaml.safe_load((ROOT / "wirewatch.yml").read_text(encoding="utf-8"))
    config["webhooks"] = [{"id": "ops", "url": f"http://127.0.0.1:{receiver.port}/hook",
                           "secret_env": "WW_RUN_SECRET", "format": "generic"}]
    path = tmp_path / "wirewatch.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def run(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", "run", "--deliver", "--config", str(config)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_run_deliver_posts_each_notified_alert_once_signed(tmp_path: Path) -> None:
    receiver = Receiver(secret="s3cret")
    try:
        result = run(config_for(receiver, tmp_path), dict(os.environ, WW_RUN_SECRET="s3cret"))
        events = receiver.events()
    finally:
        receiver.close()
    assert result.returncode == 0, result.stderr
    assert "delivered 6 of 6 webhook posts" in result.stderr  # heads-of-state notifies no webhook
    assert sorted(e.payload["rule_id"] for e in events) == sorted(
        ["tracked-actor-in-news"] * 3 + ["militia-violence"] * 2 + ["threat-in-comments"])
    assert len({e.alert_id for e in events}) == 6


def test_run_deliver_without_the_secret_fails_at_start_naming_the_field(tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        env = {k: v for k, v in os.environ.items() if k != "WW_RUN_SECRET"}
        result = run(config_for(receiver, tmp_path), env)
        assert receiver.events() == []
    finally:
        receiver.close()
    assert result.returncode == 2
    assert "webhooks[0].secret_env: environment variable WW_RUN_SECRET is not set" in result.stderr
