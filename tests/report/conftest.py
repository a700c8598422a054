"""Fixtures of the report tests: a hand-written Hydra multirun sweep."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.report_fixtures import make_sweep


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """``multirun/<date>/<time>/``: 3 completed settings, 1 failed job, 1 without results.json."""
    return make_sweep(tmp_path / "multirun" / "2025-01-01" / "12-00-00")
