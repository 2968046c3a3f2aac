"""Every registered generator against the public contract checks (`harness.core.checks.generators`).

The checks, their tiny params and any expected failure come from the plug-in and the harness,
not from here: a third party's generator runs the very same list with `parametrize_with_checks`.
That no test image reaches a generator is the grid's business: `test_no_leakage.py`.
"""

from __future__ import annotations

from harness.core import GENERATORS
from harness.core.checks import parametrize_with_checks


@parametrize_with_checks([GENERATORS.get(name) for name in GENERATORS.names()])
def test_generator_contract(plugin, check, tmp_path):
    check(plugin, tmp_path)
