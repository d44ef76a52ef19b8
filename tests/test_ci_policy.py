"""The suite's habits: under CI a missing browser or offline package fails instead of skipping."""

from __future__ import annotations

import _pytest.outcomes
import pytest

from conftest import require


def test_missing_tools_skip_locally_and_fail_under_ci(monkeypatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(_pytest.outcomes.Skipped, match="chromium is not installed"):
        require(False, "chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(_pytest.outcomes.Failed, match="chromium is missing under CI"):
        require(False, "chromium")
    require(True, "chromium")  # present: nothing happens


def test_every_test_has_a_time_limit(pytestconfig) -> None:
    assert float(pytestconfig.getini("timeout")) > 0
