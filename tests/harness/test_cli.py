import os

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main


@pytest.fixture
def in_tmp(tmp_path):
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


@pytest.mark.parametrize("args", [[], ["run"], ["report"], ["list"], ["data"], ["data", "synth"], ["doctor"], ["weights"]])
def test_help_everywhere(args):
    res = CliRunner().invoke(main, [*args, "--help"])
    assert res.exit_code == 0 and "Usage:" in res.output


def _spec(**over):
    spec = {"name": "x", "generators": [{"name": "none"}], "detectors": [{"name": "supervised-seg"}]}
    spec.update(over)
    return yaml.safe_dump(spec)


@pytest.mark.parametrize(
    "content,expected",
    [
        (None, "missing.yaml: no such spec file"),
        (_spec(generators=[{"name": "gan9000"}]), "unknown generator 'gan9000'"),
        (_spec(detectrs=[]), "unknown key 'detectrs'"),
        ("name: [unclosed\n", "malformed YAML"),
    ],
)
def test_bad_specs_fail_in_one_line_and_write_nothing(in_tmp, content, expected):
    if content is not None:
        (in_tmp / "missing.yaml").write_text(content)
    before = set(in_tmp.rglob("*"))
    res = CliRunner().invoke(main, ["run", "missing.yaml"])
    assert res.exit_code == 2
    lines = [l for l in res.output.strip().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("error: missing.yaml: ") and expected in lines[0]
    assert set(in_tmp.rglob("*")) == before


def test_list_shows_registries():
    res = CliRunner().invoke(main, ["list"])
    assert res.exit_code == 0
    for word in ("generators:", "detectors:", "datasets:", "metrics:", "cutpaste", "supervised-seg", "builtin"):
        assert word in res.output


def test_report_of_empty_run_dir_is_a_clear_error(in_tmp):
    (in_tmp / "run").mkdir()
    res = CliRunner().invoke(main, ["report", "run"])
    assert res.exit_code == 2 and "no finished cells" in res.output
