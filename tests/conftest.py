"""Shared fixtures: the seed pages and the project's configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(ROOT / "wirewatch.yml")


@pytest.fixture(scope="session")
def seed_paths() -> list[Path]:
    return sorted(SEEDS.glob("*.txt"))
