"""Fixtures of the evaluation tests."""

from __future__ import annotations

import sys
from pathlib import Path

# The helpers of the tests that run ``marl`` in subprocesses (tests/marl/cli_runs.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
