"""Fixtures of the end-to-end tests: made here, nothing downloaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _fixture_module(name: str):
    path = Path(__file__).resolve().parents[1] / "fixtures" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    """A tiny, random Stable Diffusion folder (diffusers format): a code-path fixture, not a model."""
    return str(_fixture_module("tiny_sd").write_tiny_sd(tmp_path_factory.mktemp("tiny-sd")))
