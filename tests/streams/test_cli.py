"""`wirewatch run` as a user runs it: on the seeds, with bad input, with a broken config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from streams.cli import main

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def pages() -> dict[str, dict]:  # type: ignore[type-arg]
    result = run_cli("run", "--emit", "pages", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {Path(p["page"]["source"]).name: p for p in lines}


def test_pages_jsonl_has_one_tagged_page_per_seed_and_nothing_else(pages: dict) -> None:  # type: ignore[type-arg]
    assert sorted(pages) == sorted(p.name for p in SEEDS.glob("*.txt"))
    assert all(p["verdict"]["status"] == "new" for p in pages.values())


def test_first_seed_comment_is_apart_from_the_body(pages: dict) -> None:  # type: ignore[type-arg]
    page = pages["000_4910a1d9556ff153.txt"]["page"]
    assert page["title"] == "Qais al-Khazali: Israel directing attacks on U.S. headquarters in Iraq"
    assert page["published_at"].startswith("2021-03-05")
    assert "hunt and attack" in page["comments"][0]["text"]
    assert "hunt and attack" not in page["body"]
    assert "Leave a Comment" not in page["body"]


def test_seeds_mention_khazali_and_asaib_under_their_ids(pages: dict) -> None:  # type: ignore[type-arg]
    for name, page in pages.items():
        ids = {m["entity_id"] for m in page["mentions"]}
        assert {"qais-al-khazali", "asaib-ahl-al-haq"} <= ids, name


def test_ticker_names_are_not_mentioned_on_the_al_mayadeen_page(pages: dict) -> None:  # type: ignore[type-arg]
    page = pages["004_4ba49e555d3fefc6.txt"]
    ids = {m["entity_id"] for m in page["mentions"]}
    assert not ids & {"nicolas-maduro", "benjamin-netanyahu", "donald-trump"}
    for furniture in ("BREAKING", "Most Read", "Read Next", "Related News", "All Rights Reserved", "Maduro"):
        assert furniture not in page["page"]["body"]
    assert page["page"]["title"] == "Khazali: Resistance Operations Will Continue Until US Out"


def test_alerts_text_output_is_one_readable_block_per_alert() -> None:
    result = run_cli("run")
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.strip().split("\n\n")
    assert any(b.startswith("[HIGH] tracked-actor-in-news: Qais al-Khazali") for b in blocks)
    assert all("  title " in b and "  snippet " in b for b in blocks)
    assert "3 pages: 3 new" in result.stderr


def test_alerts_jsonl_fire_on_articles_and_comments_but_not_on_the_ticker(pages: dict) -> None:  # type: ignore[type-arg]
    result = run_cli("run", "--format", "jsonl")
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    by_doc = {p["page"]["doc_id"]: name for name, p in pages.items()}
    fired = {(by_doc[a["doc_id"]][:3], a["rule_id"]) for a in alerts}
    assert {("000", "tracked-actor-in-news"), ("002", "tracked-actor-in-news"), ("004", "tracked-actor-in-news"),
            ("000", "threat-in-comments"), ("002", "heads-of-state")} <= fired
    assert ("004", "heads-of-state") not in fired  # Trump, Maduro, Netanyahu are only in its ticker
    assert len({a["alert_id"] for a in alerts}) == len(alerts)


def test_bad_input_files_are_named_on_stderr_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "blob.txt").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "empty.html").write_text("   ")
    (tmp_path / "a.txt").write_bytes((SEEDS / "000_4910a1d9556ff153.txt").read_bytes())
    result = run_cli("run", str(tmp_path), str(tmp_path / "missing.txt"))
    assert result.returncode == 1
    assert "blob.txt: rejected at ingest (binary_content)" in result.stderr
    assert "empty.html: rejected at ingest (empty_body)" in result.stderr
    assert "missing.txt: rejected at ingest (unreadable)" in result.stderr
    assert "tracked-actor-in-news" in result.stdout


def test_config_mistake_is_one_line_per_problem_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yml"
    config.write_text("rules:\n  - id: r\n    any_entity: [nobody]\n")
    assert main(["run", "--config", str(config), str(SEEDS)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:3: rules[0].any_entity[0]: unknown watchlist id 'nobody'" in err
    assert "Traceback" not in err


def test_missing_default_config_tells_how_to_name_one(tmp_path: Path) -> None:
    result = run_cli("run", str(SEEDS), cwd=tmp_path)
    assert result.returncode == 2
    assert "configuration file not found" in result.stderr and "--config" in result.stderr
