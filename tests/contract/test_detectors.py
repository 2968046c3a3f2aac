"""Every registered detector against the public contract checks (`harness.core.checks.detectors`).

The checks, their tiny params and any expected failure come from the plug-in and the harness,
not from here: a third party's detector runs the very same list with `parametrize_with_checks`.
Each plug-in's own tests keep what only it does (its learning, its weights, its params).
"""

from __future__ import annotations

from harness.core import DETECTORS
from harness.core.checks import parametrize_with_checks


@parametrize_with_checks([DETECTORS.get(name) for name in DETECTORS.names()])
def test_detector_contract(plugin, check, tmp_path):
    check(plugin, tmp_path)
