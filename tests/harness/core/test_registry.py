"""Built-in plug-ins come from this project's entry points, like a third party's."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import pytest

from harness.core.registry import BUILTIN_DISTRIBUTION, DATASETS, DETECTORS, GENERATORS, Registry, UnknownNameError

GROUPS = {"bench.generators": GENERATORS, "bench.detectors": DETECTORS, "bench.datasets": DATASETS}


def _builtin_points(group: str):
    return [ep for ep in entry_points(group=group)
            if ep.dist is not None and ep.dist.metadata["Name"].replace("_", "-").lower() == BUILTIN_DISTRIBUTION]


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_builtin_entry_point_names_the_class_registered_under_it(group):
    points = _builtin_points(group)
    assert points, f"no {group} entry points: reinstall with `pip install -e .`"
    reg = GROUPS[group]
    for ep in points:
        assert reg.get(ep.name) is ep.load(), ep
        assert {e.name: e.origin for e in reg.entries()}[ep.name] == "builtin"


def test_every_registered_builtin_has_an_entry_point():
    """A plug-in registered only by a decorator would vanish once nothing imports its module."""
    for group, reg in GROUPS.items():
        declared = {ep.name for ep in entry_points(group=group)}
        assert set(reg.names()) <= declared, (group, set(reg.names()) - declared)


def test_looking_up_one_name_imports_only_its_module(monkeypatch):
    reg: Registry = Registry("generator", group="bench.generators")
    for mod in ("generators.nsa", "generators.dhdiff.generator"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    cls = reg.get("none")
    assert cls.name == "none"
    assert "generators.nsa" not in sys.modules and "generators.dhdiff.generator" not in sys.modules


def test_no_entry_points_says_how_to_install(monkeypatch):
    import harness.core.registry as registry

    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    with pytest.raises(UnknownNameError, match=r"pip install -e \."):
        Registry("generator", group="bench.generators").get("cutpaste")
