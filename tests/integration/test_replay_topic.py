"""`wirewatch replay --topic` reads exactly the requested range of a real topic."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from bench.corpus import generate

from .conftest import Deployment

pytestmark = pytest.mark.integration


def test_replay_from_a_topic_reads_exactly_the_offset_range(deployment: Deployment, tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl"
    archive.write_text("".join(p.raw.model_dump_json() + "\n" for p in generate(40, seed=4)), encoding="utf-8")
    deployment.cli("ingest", "--no-progress", str(archive))
    topic = deployment.topic("pages.raw")
    consumer = KafkaConsumer(bootstrap_servers=deployment.bootstrap.split(","), group_id=None)
    ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(3)])
    consumer.close()
    assert sum(ends.values()) == 40

    # offsets 2..5 (exclusive) of partition 0, everything from 1 of the others up to 3
    result = deployment.cli("replay", "--topic", topic, "--from", "0:2,1:1,2:1", "--until", "0:5,1:3,2:3",
                            "--format", "jsonl", "--no-progress", "--against", str(tmp_path / "none.jsonl"),
                            check=False)
    assert result.returncode == 2 and "none.jsonl" in result.stderr  # a missing baseline is a usage error

    result = deployment.cli("replay", "--topic", topic, "--from", "0:2,1:1,2:1", "--until", "0:5,1:3,2:3",
                            "--no-progress", check=False)
    assert result.returncode == 0, result.stderr
    assert "7 pages:" in result.stderr  # 3 + 2 + 2 records

    everything = deployment.cli("replay", "--topic", topic, "--no-progress", check=False)
    assert "40 pages:" in everything.stderr


def test_replay_produce_redrives_pages_to_the_workers(deployment: Deployment, tmp_path: Path) -> None:
    seeds = Path(__file__).resolve().parents[2] / "seeds"
    deployment.start_worker()
    deployment.cli("replay", "--produce", "--no-progress", str(seeds))
    alerts = deployment.consume("alerts", lambda r: {"tracked-actor-in-news"} <= {a["rule_id"] for a in r})
    assert {a["rule_id"] for a in alerts} >= {"tracked-actor-in-news", "threat-in-comments"}
