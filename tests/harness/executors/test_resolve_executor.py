"""`executor: auto` (quick.yaml's choice): Ray only where it can help, local otherwise."""

from __future__ import annotations

import importlib.util

import pytest

from harness.config import validate_spec
from harness.executors import base


def test_named_executors_are_kept():
    assert base.resolve_executor("local")[0] == "local"
    assert base.resolve_executor("ray")[0] == "ray"


def test_auto_is_local_on_one_core(monkeypatch):
    monkeypatch.setattr("harness.runtime.available_cores", lambda: 1)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    name, why = base.resolve_executor("auto")
    assert name == "local" and "1 core" in why


def test_auto_ignores_the_load_average(monkeypatch):
    """An idle 2-core box reads load 0.5–0.9; the choice must not flip with it."""
    monkeypatch.setattr("harness.runtime.available_cores", lambda: 2)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr("os.getloadavg", lambda: (1.9, 1.9, 1.9))
    assert base.resolve_executor("auto")[0] == "ray"


def test_auto_is_local_without_ray(monkeypatch):
    monkeypatch.setattr("harness.runtime.available_cores", lambda: 2)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    name, why = base.resolve_executor("auto")
    assert name == "local" and "not installed" in why


def test_auto_is_ray_with_free_cores_or_an_address(monkeypatch):
    monkeypatch.setattr("harness.runtime.available_cores", lambda: 2)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert base.resolve_executor("auto")[0] == "ray"
    monkeypatch.setattr("harness.runtime.available_cores", lambda: 1)
    assert base.resolve_executor("auto", address="auto")[0] == "ray"


def test_spec_executor_is_validated():
    spec = {"name": "x", "generators": [{"name": "none"}], "detectors": [{"name": "padim"}]}
    assert validate_spec({**spec, "executor": "auto"}).executor == "auto"
    with pytest.raises(Exception, match="executor"):
        validate_spec({**spec, "executor": "slurm"})
