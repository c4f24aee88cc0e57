import os

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
