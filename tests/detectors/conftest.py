"""The tiny on-disk inspection set for detector tests (`harness.core.toydata.make_tiny_set`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.core import TrainSet
from harness.core.toydata import make_tiny_set


@pytest.fixture
def tiny_set(tmp_path: Path) -> tuple[TrainSet, pd.DataFrame]:
    return make_tiny_set(tmp_path / "data")
