"""Where the harness keeps what it derives from data between runs: the drawn built-in dataset,
file checks, binarised mask copies. One root, `BENCH_DATA_DIR` or ``~/.cache/anomaly-aug-bench``;
its own module so that data checks (`harness.data.fingerprint`) need no dataset adapter."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    env = os.environ.get("BENCH_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "anomaly-aug-bench"
