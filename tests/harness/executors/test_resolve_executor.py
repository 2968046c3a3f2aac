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


def test_ray_submits_the_fits_first_with_one_cheap_job_between_them():
    """The fits start first (a fit started last runs alone at the end: the grid waits for its
    longest chain), with one cheap job between two fits so a first result shows early; the other
    cheap jobs follow the last fit."""
    from types import SimpleNamespace as NS

    from harness.executors.ray_executor import fits_beside_cheap_jobs

    def job(gen, seed=0):
        needs = None if gen is None else NS(generator=NS(name=gen), id=f"{gen}{seed}")
        return NS(needs=needs, label=f"{gen}{seed}")

    jobs = [job(None), job("none"), job("cutpaste"), job("dhdiff"), job("copy-paste"), job("dhdiff", 1),
            job("twostage")]
    # three fits (dhdiff twice, twostage), one cheap job after each but the last, then the rest
    assert [j.label for j in fits_beside_cheap_jobs(jobs)] == [
        "dhdiff0", "None0", "dhdiff1", "none0", "twostage0", "cutpaste0", "copy-paste0"]
    two_fits = [job("dhdiff"), job("dhdiff", 1), *(job(g, s) for s in (0, 1) for g in (None, "none", "cutpaste"))]
    assert [j.label for j in fits_beside_cheap_jobs(two_fits)] == [
        "dhdiff0", "None0", "dhdiff1", "none0", "cutpaste0", "None1", "none1", "cutpaste1"]
    cheap = [job(None), job("none"), job("cutpaste")]
    assert fits_beside_cheap_jobs(cheap) == cheap
