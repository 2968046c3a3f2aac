"""Suite-wide: the built-in dataset is drawn into a session temp folder, not the user's cache;
the fake GPU (`harness.core.fakegpu`) is registered before any test runs a backward pass
(autograd sizes its per-device queues at its first use)."""

import os

import pytest

from harness.core import fakegpu

fakegpu.enable()


@pytest.fixture(scope="session", autouse=True)
def _builtin_data_in_tmp(tmp_path_factory):
    if "BENCH_DATA_DIR" in os.environ:  # a developer's explicit choice wins
        yield
        return
    os.environ["BENCH_DATA_DIR"] = str(tmp_path_factory.mktemp("bench-data"))
    yield
    os.environ.pop("BENCH_DATA_DIR", None)
