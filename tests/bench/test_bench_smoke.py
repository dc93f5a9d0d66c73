"""Smoke test of ``python -m bench``: it runs end to end on a tiny corpus and prints every row.

No timing assertions: only that each row is there with numbers (the machine is shared).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EMBEDDED_ROWS = [
    f"{stage} {what}"
    for stage in ("clean", "dedup", "tag", "rules", "pipeline")
    for what in ("pages/s", "peak RSS MB")
]
KAFKA_ROWS = ["e2e pages/s sustained", "e2e p50 produce->alert s", "e2e p99 produce->alert s"]
NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?$")
RATIO = re.compile(r"^[\d.]+x$")


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--no-kafka", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout, json.loads(out.read_text(encoding="utf-8"))


def table_rows(stdout: str) -> dict[str, list[str]]:
    rows = {}
    for line in stdout.splitlines():
        parts = cells(line)
        if len(parts) >= 4 and not line.startswith(("row ", "[", "*", "-")):
            rows[parts[0]] = parts
    return rows


def test_the_table_has_every_embedded_row_with_numbers_and_ratios(bench_run: tuple[str, dict[str, object]]) -> None:
    rows = table_rows(bench_run[0])
    for name in EMBEDDED_ROWS:
        assert name in rows, f"missing row {name!r} in:\n{bench_run[0]}"
        _, ours, naive, ratio, *_ = rows[name]
        assert NUMBER.match(ours) and NUMBER.match(naive), rows[name]
        assert RATIO.match(ratio), rows[name]
    assert rows["pipeline pages/s"][4].startswith(">=1,000")


def test_the_scaling_rows_are_there_with_numbers(bench_run: tuple[str, dict[str, object]]) -> None:
    rows = table_rows(bench_run[0])
    tag = [r for name, r in rows.items() if name.startswith("tag ms/page, ")]
    dedup = [r for name, r in rows.items() if name.startswith("dedup B/page, ")]
    assert len(tag) == 3 and len(dedup) == 2, bench_run[0]
    for row in tag + dedup:
        assert NUMBER.match(row[1]) and NUMBER.match(row[2]) and RATIO.match(row[3]), row
    assert all(r[-1].split()[0] in ("yes", "NO") for r in dedup), dedup


def test_kafka_rows_say_they_were_skipped(bench_run: tuple[str, dict[str, object]]) -> None:
    rows = table_rows(bench_run[0])
    for name in KAFKA_ROWS:
        row = next(r for n, r in rows.items() if n.startswith(name))
        assert row[1] == "skipped: --no-kafka", row


def test_corpus_machine_and_json_are_reported(bench_run: tuple[str, dict[str, object]]) -> None:
    stdout, data = bench_run
    assert re.search(r"^machine: \d+ cores, Python 3\.\d+", stdout, re.MULTILINE)
    assert re.search(r"^machine speed: a fixed Python loop took \d+\.\d\d s at start, \d+\.\d\d s at end",
                     stdout, re.MULTILINE)
    assert re.search(r"^corpus: 40 pages .*near-duplicate copies .*KB", stdout, re.MULTILINE)
    names = {row["name"] for row in data["rows"]}  # type: ignore[attr-defined]
    assert set(EMBEDDED_ROWS) <= names
