"""Fixtures of the league's tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from league_small import SMALL

# The helpers of the tests that run ``marl`` in subprocesses (tests/marl/cli_runs.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def small() -> dict:
    return {**SMALL, "env": dict(SMALL["env"]), "train": dict(SMALL["train"])}
