import os

import numpy as np
import pytest
from hypothesis import settings

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

# CI draws the same hypothesis examples on every run (a red CI is a regression, reproducible from
# its log); elsewhere each run searches new ones, which is how new edge cases are found.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
