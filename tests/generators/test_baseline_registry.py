"""The baseline generators are registered under their names with the declared contract flags."""

from __future__ import annotations

import pytest

from harness.core import GENERATORS, PROFILES, RunContext

BASELINES = {
    "cutpaste": (False, False),
    "cutpaste-scar": (False, False),
    "draem": (False, False),
    "nsa": (False, False),
    "copy-paste": (True, True),
}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_registered_with_flags_and_defaults(name):
    cls = GENERATORS.get(name)
    assert cls.name == name
    assert (cls.needs_real_anomalies, cls.conditions_on_defect_type) == BASELINES[name]
    for profile in PROFILES:
        params = cls(None, RunContext(category="c", image_size=64, profile=profile)).params
        assert params.placement == "auto"
