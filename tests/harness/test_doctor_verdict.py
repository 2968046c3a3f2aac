"""`bench doctor SPEC` ends with a verdict a script can act on: READY (exit 0) or BLOCKED (exit 1)."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.doctor import Need, verdict


def _doctor(tmp_path, spec: dict, *args: str):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return CliRunner().invoke(main, ["doctor", str(path), *args])


def test_a_missing_dataset_blocks_the_run(tmp_path):
    spec = {"name": "doc", "datasets": [{"name": "mvtec_loco", "root": str(tmp_path / "nowhere")}],
            "generators": [{"name": "cutpaste"}], "detectors": [{"name": "supervised-seg"}]}
    res = _doctor(tmp_path, spec)
    assert res.exit_code == 1
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("verdict: BLOCKED") and "dataset mvtec_loco" in last


def test_the_built_in_data_is_ready(tmp_path):
    spec = {"name": "doc", "datasets": [{"name": "builtin"}], "generation": {"quality_metrics": False},
            "generators": [{"name": "cutpaste"}], "detectors": [{"name": "supervised-seg"}]}
    res = _doctor(tmp_path, spec)
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == "verdict: READY"


def test_a_spec_that_does_not_load_is_blocked(tmp_path):
    res = _doctor(tmp_path, {"name": "doc", "generators": [{"name": "gan9000"}], "detectors": [{"name": "padim"}]})
    assert res.exit_code == 1 and "verdict: BLOCKED" in res.output


def test_a_download_on_first_use_is_ready_online_and_blocked_offline():
    hub = Need("SD checkpoint x (Hugging Face hub)", "dhdiff", "MISSING offline (downloads on first use)", "-", "-")
    line, ready = verdict([hub], metrics_ok=True, offline=False)
    assert ready and "downloads 1 file" in line
    line, ready = verdict([hub], metrics_ok=True, offline=True)
    assert not ready and line.startswith("verdict: BLOCKED")
    line, ready = verdict([], metrics_ok=False, offline=True)  # missing metric weights: n/a, not a block
    assert ready and "n/a" in line
