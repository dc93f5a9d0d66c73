"""Helpers of the reliability tests: the ways input enters wirewatch, and what a rejection must look like."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from schemas.config import Settings
from schemas.deadletter import ORIGINAL_PREFIX_BYTES, DeadLetter, Reason
from streams.pipeline import Processed
from streams.steps import Record, StageSteps

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "wirewatch.yml"
STAGES = ("ingest", "decode", "clean", "dedup", "tag", "rules", "deliver")
REJECTED_LINE = re.compile(
    r"^wirewatch: (?P<source>.+): rejected at (?P<stage>\w+) \((?P<reason>\w+)\): (?P<error>.+)$"
)


@dataclass(frozen=True, slots=True)
class StreamResult:
    """What the streaming steps made of one ``pages.raw`` record: alert records, or a dead letter."""

    alerts: list[Record] | None
    letter: DeadLetter | None

    @property
    def outcome(self) -> str:
        return "ok" if self.letter is None else self.letter.error_type.value


def stream(steps: StageSteps, record: bytes) -> StreamResult:
    """Run one record through clean → dedup → tag → rules as the agents do, step by step."""
    out = steps.clean(record)
    for step in (steps.dedup, steps.tag, steps.rules):
        if isinstance(out, DeadLetter):
            return StreamResult(None, out)
        produced: list[Record] = []
        for item in out:
            result = step(item.value)
            if isinstance(result, DeadLetter):
                return StreamResult(None, result)
            produced += result
        out = produced
    if isinstance(out, DeadLetter):
        return StreamResult(None, out)
    return StreamResult(out, None)


def assert_typed(letter: DeadLetter, original: bytes | None = None) -> None:
    """A dead letter as DESIGN §8 wants it: a typed reason that is not a bug, a bounded original."""
    assert isinstance(letter.error_type, Reason)
    assert letter.error_type is not Reason.INTERNAL_ERROR, letter.error
    assert letter.stage in STAGES
    assert letter.error and "\n" not in letter.error and "Traceback" not in letter.error
    kept = letter.original()
    assert len(kept) <= ORIGINAL_PREFIX_BYTES
    assert letter.original_size >= len(kept)
    assert letter.truncated == (letter.original_size > len(kept))
    if original is not None:
        assert kept == original[:ORIGINAL_PREFIX_BYTES]
        assert letter.original_size == len(original)


def outcome_of(item: Processed | DeadLetter) -> str:
    return "ok" if isinstance(item, Processed) else item.error_type.value


def with_limit(settings: Settings, max_page_bytes: int) -> Settings:
    return settings.model_copy(update={"limits": settings.limits.model_copy(update={"max_page_bytes": max_page_bytes})})


def wirewatch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The ``wirewatch`` console script as a user runs it, in a subprocess."""
    script = Path(sys.executable).with_name("wirewatch")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "streams.cli"]
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stdout
