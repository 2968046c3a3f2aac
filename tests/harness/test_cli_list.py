"""`bench list` lists plug-ins without importing them; `bench list NAME` shows one's params per profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_list_imports_no_plugin_and_still_shows_their_summaries_and_flags():
    code = ("import sys; from click.testing import CliRunner; from harness.cli import main; "
            "r = CliRunner().invoke(main, ['list']); print(r.output); "
            "print('HEAVY', sorted(m for m in ('torch', 'anomalib', 'diffusers', 'timm') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         check=True).stdout
    assert "HEAVY []" in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  ")}
    assert lines["dhdiff"].endswith("[needs real anomalies]")  # inherited from a base class in another module
    assert lines["padim"].endswith("[one-class]") and "[one-class]" not in lines["frozen-seg"]
    assert "CutPaste" in lines["cutpaste"]  # the class's docstring, read from source


def test_list_plugin_shows_each_param_with_its_default_per_profile():
    from harness.core.registry import DETECTORS

    result = CliRunner().invoke(main, ["list", "padim"])
    assert result.exit_code == 0, result.output
    cls = DETECTORS.get("padim")
    header, *rows = [ln.split() for ln in result.output.splitlines()[1:] if ln.startswith("  ") and "spec" not in ln]
    assert header == ["param", "default", "cpu-quick", "gpu-full"]
    shown = {r[0]: r for r in rows}
    assert set(shown) == set(cls.Params.model_fields)
    for profile, col in (("cpu-quick", 2), ("gpu-full", 3)):
        resolved = cls.resolve_params({}, profile).model_dump()
        for field, value in cls.profile_defaults.get(profile, {}).items():
            cell, want = shown[field][col], resolved[field]
            assert (cell if isinstance(want, str) else json.loads(cell)) == (list(want) if isinstance(want, tuple)
                                                                              else want), (profile, field)
    assert shown["input_size"][1] == "—"  # no default: the profile decides


def test_list_unknown_plugin_fails_with_a_did_you_mean():
    result = CliRunner().invoke(main, ["list", "dhdif"])
    assert result.exit_code == 2
    assert "did you mean 'dhdiff'" in result.output
