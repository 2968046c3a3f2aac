"""Spec mistakes: one line naming the spec file, the key and the fix; exit 2; nothing written."""

from __future__ import annotations

import pytest
import yaml

from reliability_kit import case, snapshot, spec_dict, write_spec


def refused(bench, tmp_path, spec, *extra):
    """Run `spec`, expect exit 2 with one error line and no output folder."""
    ran = bench(spec, *extra)
    assert ran.code == 2, ran.out + ran.err
    assert snapshot(tmp_path / "out") == {}
    return ran.error_line


def test_missing_spec_file(bench, tmp_path):
    line = refused(bench, tmp_path, tmp_path / "nope.yaml")
    case("G1").check(line)
    assert str(tmp_path / "nope.yaml") in line


def test_empty_spec_file(bench, tmp_path):
    spec = write_spec(tmp_path / "empty.yaml", "")
    line = refused(bench, tmp_path, spec)
    case("G2").check(line)
    assert str(spec) in line


def test_malformed_yaml(bench, tmp_path, data):
    spec = write_spec(tmp_path / "bad.yaml", "name: x\ngenerators: [none\n")
    line = refused(bench, tmp_path, spec)
    case("G3").check(line)
    assert str(spec) in line and "column" in line


def test_unknown_key(bench, tmp_path, data):
    spec = write_spec(tmp_path / "s.yaml", {**spec_dict(tmp_path, data), "seed": 3})
    line = refused(bench, tmp_path, spec)
    case("G4").check(line)
    assert str(spec) in line and "seeds" in line


def test_wrong_type(bench, tmp_path, data):
    spec = write_spec(tmp_path / "s.yaml", spec_dict(tmp_path, data, image_size="big"))
    line = refused(bench, tmp_path, spec)
    case("G5").check(line)
    assert str(spec) in line


def test_unknown_generator(bench, tmp_path, data):
    spec = write_spec(tmp_path / "s.yaml", spec_dict(tmp_path, data, generators=[{"name": "cutpasta"}]))
    line = refused(bench, tmp_path, spec)
    case("G6").check(line)
    assert str(spec) in line and "cutpaste" in line


def test_duplicate_generator(bench, tmp_path, data):
    spec = write_spec(tmp_path / "s.yaml", spec_dict(tmp_path, data, generators=[{"name": "none"}, {"name": "none"}]))
    line = refused(bench, tmp_path, spec)
    case("G7").check(line)


def test_python_tag_is_not_executed(bench, tmp_path):
    witness = tmp_path / "executed"
    spec = write_spec(tmp_path / "s.yaml", f"name: !!python/object/apply:os.system ['touch {witness}']\n")
    line = refused(bench, tmp_path, spec)
    case("G21").check(line)
    assert not witness.exists()


def test_slash_in_name(bench, tmp_path, data):
    spec = write_spec(tmp_path / "s.yaml", spec_dict(tmp_path, data, name="a/b"))
    line = refused(bench, tmp_path, spec)
    case("G22").check(line)


def test_unknown_report_metric(bench, tmp_path, data):
    d = spec_dict(tmp_path, data)
    d["report"]["metrics"] = ["pixel_ap", "pixel_apx"]
    line = refused(bench, tmp_path, write_spec(tmp_path / "s.yaml", d))
    case("B6").check(line)
    assert "pixel_aupro" in line  # the valid names are listed


@pytest.mark.parametrize("label", ["../../../../../escaped", "a/b", "..", " spaced"])
def test_label_outside_the_name_charset(bench, tmp_path, data, label):
    spec = write_spec(tmp_path / "s.yaml", spec_dict(tmp_path, data, generators=[{"name": "cutpaste", "label": label}]))
    line = refused(bench, tmp_path, spec)
    case("B7a").check(line)
    assert "generators.0.label" in line
    assert not any(p.name == "escaped" for p in tmp_path.parent.rglob("escaped"))


@pytest.mark.parametrize("key", ["output_dir", "report"])
def test_outputs_inside_a_dataset_root(bench, tmp_path, data, key):
    d = spec_dict(tmp_path, data)
    if key == "output_dir":
        d["output_dir"] = str(data / "runs" / "x")
    else:
        d["report"]["dir"] = str(data / "normal" / "report")
    before = snapshot(data)
    line = refused(bench, tmp_path, write_spec(tmp_path / "s.yaml", d))
    case("B7b").check(line)
    assert str(data) in line and snapshot(data) == before


def test_set_value_that_is_not_yaml(bench, tmp_path, data):
    spec = write_spec(tmp_path / "s.yaml", spec_dict(tmp_path, data))
    line = refused(bench, tmp_path, spec, "--set", "generation.n_samples=[1")
    case("B8").check(line)
    assert "generation.n_samples" in line


def test_dataset_param_typo(bench, tmp_path, data):
    d = spec_dict(tmp_path, data)
    d["datasets"][0]["params"]["mask_dri"] = "masks"
    spec = write_spec(tmp_path / "s.yaml", d)
    line = refused(bench, tmp_path, spec)
    case("B10c").check(line)
    assert str(spec) in line and "'mask_dri'" in line and "mask_dir" in line


def test_plugin_param_typo(bench, tmp_path, data):
    spec = write_spec(tmp_path / "s.yaml", spec_dict(
        tmp_path, data, generators=[{"name": "none"}, {"name": "cutpaste", "params": {"area_ration": [0.1, 0.2]}}]))
    line = refused(bench, tmp_path, spec)
    case("B10d").check(line)
    assert str(spec) in line and "area_ratio" in line


def test_spec_is_the_yaml_we_think(tmp_path, data):
    """The helpers write what the cases above assume (a guard for the tests themselves)."""
    d = yaml.safe_load(write_spec(tmp_path / "s.yaml", spec_dict(tmp_path, data)).read_text())
    assert d["datasets"][0]["root"] == str(data) and d["generators"][1]["name"] == "cutpaste"
