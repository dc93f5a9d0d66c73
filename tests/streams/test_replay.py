"""`wirewatch replay` from files: same alerts as `run`, diffs after a rule change, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
import yaml
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from bench.corpus import generate
from streams.replay import Position, Progress, ReplayError

ROOT = Path(__file__).resolve().parents[2]


def wirewatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def jsonl(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("archive") / "pages.jsonl"
    path.write_text("".join(p.raw.model_dump_json() + "\n" for p in generate(120, seed=3)), encoding="utf-8")
    return path


def test_replay_of_files_gives_the_same_alerts_as_run(archive: Path) -> None:
    run = wirewatch("run", "--format", "jsonl", str(archive))
    replay = wirewatch("replay", "--format", "jsonl", "--no-progress", str(archive))
    assert run.returncode == replay.returncode == 0, replay.stderr
    key = lambda a: (a["kind"], a["alert_id"], a["doc_id"], tuple(a["also_reported_by"]))  # noqa: E731
    assert sorted(map(key, jsonl(run.stdout))) == sorted(map(key, jsonl(replay.stdout)))
    assert len(jsonl(run.stdout)) > 3


def test_changing_a_rule_and_replaying_shows_the_diff(archive: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "before.jsonl"
    baseline.write_text(wirewatch("replay", "--format", "jsonl", "--no-progress", str(archive)).stdout)
    config = yaml.safe_load((ROOT / "wirewatch.yml").read_text(encoding="utf-8"))
    for rule in config["rules"]:
        if rule["id"] == "militia-violence":
            rule["enabled"] = False
    config["rules"].append({"id": "mossad", "any_entity": ["mossad"], "severity": "medium"})
    changed = tmp_path / "after.yml"
    changed.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")

    result = wirewatch("replay", "--config", str(changed), "--against", str(baseline), "--format", "jsonl",
                       "--no-progress", str(archive))
    rows = jsonl(result.stdout)
    gone = {r["rule_id"] for r in rows if r["diff"] == "gone"}
    new = {r["rule_id"] for r in rows if r["diff"] == "new"}
    same = {r["rule_id"] for r in rows if r["diff"] == "same"}
    assert gone == {"militia-violence"}
    assert new == {"mossad"}
    assert "tracked-actor-in-news" in same
    assert "diff:" in result.stderr and "gone" in result.stderr

    table = wirewatch("replay", "--config", str(changed), "--against", str(baseline), "--no-progress", str(archive))
    assert "mossad (medium):" in table.stdout and "gone: militia-violence" in table.stdout


def test_warc_input_replays_like_the_same_pages_as_files(tmp_path: Path) -> None:
    path = tmp_path / "crawl.warc.gz"
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for seed in sorted((ROOT / "seeds").glob("*.txt")):
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/plain; charset=utf-8")], protocol="HTTP/1.1")
            record = writer.create_warc_record(f"https://news.example/{seed.stem}", "response",
                                               payload=BytesIO(seed.read_bytes()), http_headers=headers)
            writer.write_record(record)
    from_warc = jsonl(wirewatch("replay", "--format", "jsonl", "--no-progress", str(path)).stdout)
    from_files = jsonl(wirewatch("run", "--format", "jsonl").stdout)
    fired = lambda alerts: sorted((a["rule_id"], a["doc_id"]) for a in alerts)  # noqa: E731
    assert fired(from_warc) == fired(from_files)
    assert {a["outlet"] for a in from_warc} == {"news.example"}


def test_resume_skips_the_pages_already_replayed(archive: Path, tmp_path: Path) -> None:
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(Progress(pages=100).to_json())
    result = wirewatch("replay", "--no-progress", "--resume", "--checkpoint", str(checkpoint), str(archive))
    assert result.returncode == 0, result.stderr
    assert "20 pages:" in result.stderr
    assert not checkpoint.exists()


def test_positions_parse_offsets_partitions_and_times() -> None:
    assert Position.parse("42").offset == 42
    assert Position.parse("0:10,2:30").per_partition == ((0, 10), (2, 30))
    moment = Position.parse("2026-11-01T00:00:00Z").at
    assert moment is not None and moment.tzinfo is not None
    with pytest.raises(ReplayError, match="time zone"):
        Position.parse("2026-11-01T00:00:00")
    with pytest.raises(ReplayError, match="expected an offset"):
        Position.parse("yesterday")


def test_replay_without_source_or_with_range_on_files_is_a_usage_error(archive: Path) -> None:
    assert wirewatch("replay").returncode == 2
    result = wirewatch("replay", "--from", "10", str(archive))
    assert result.returncode == 2 and "--topic" in result.stderr
