"""Shared fixtures: the seed pages and the project's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
PACKAGES = ("schemas", "streams", "alerts")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test compiled stage modules older than the sources: Python would import them."""
    compiled = sorted(ROOT.glob("streams/*.so"))
    if not compiled:
        return
    newest = max((path for package in PACKAGES for path in (ROOT / package).glob("*.py")),
                 key=lambda path: path.stat().st_mtime)
    stale = [path.name for path in compiled if path.stat().st_mtime < newest.stat().st_mtime]
    if stale:
        raise pytest.UsageError(
            f"compiled modules older than {newest.relative_to(ROOT)}: {', '.join(stale)}; "
            "`make install` rebuilds them (`make install COMPILE=0` removes them)"
        )


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(ROOT / "wirewatch.yml")


@pytest.fixture(scope="session")
def seed_paths() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))
