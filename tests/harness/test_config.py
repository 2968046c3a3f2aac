from pathlib import Path

import pytest
import yaml

from harness.config import SpecError, load_spec

BASE = {
    "name": "t",
    "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
    "generators": [{"name": "none"}, {"name": "cutpaste"}],
    "detectors": [{"name": "supervised-seg"}],
}


def write(tmp_path: Path, data, name="spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def test_valid_spec_has_defaults(tmp_path):
    spec = load_spec(write(tmp_path, BASE))
    assert spec.profile == "cpu-quick" and spec.image_size == 128 and spec.seeds == [0]
    assert spec.run_dir == Path("runs/t") and spec.report_dir == Path("reports/t")
    assert spec.mlflow_uri.startswith("sqlite:///") and spec.mlflow_uri.endswith("runs/t/mlflow.db")


def test_report_lands_next_to_a_placed_run(tmp_path):
    """An output_dir (absolute or not) puts the report under it, not in ./reports of the current folder."""
    placed = load_spec(write(tmp_path, {**BASE, "output_dir": str(tmp_path / "elsewhere")}))
    assert placed.report_dir == tmp_path / "elsewhere" / "report"
    chosen = load_spec(write(tmp_path, {**BASE, "output_dir": str(tmp_path / "x"), "report": {"dir": "r"}}))
    assert chosen.report_dir == Path("r")


def test_bench_report_of_a_run_dir_follows_its_recorded_spec(tmp_path):
    import json

    from harness.config import recorded_report_dir

    run = tmp_path / "moved-run"
    run.mkdir()
    assert recorded_report_dir(run) == Path("reports/moved-run")  # no spec.json: the default layout
    (run / "spec.json").write_text(json.dumps({"output_dir": "/somewhere/else", "report": {"dir": None}}))
    assert recorded_report_dir(run) == run / "report"  # a placed run: next to it, wherever it is now
    (run / "spec.json").write_text(json.dumps({"output_dir": None, "report": {"dir": "/r/x"}}))
    assert recorded_report_dir(run) == Path("/r/x")


def test_missing_file_names_it(tmp_path):
    with pytest.raises(SpecError, match=r"missing\.yaml: no such spec file"):
        load_spec(tmp_path / "missing.yaml")


def test_malformed_yaml_names_line(tmp_path):
    p = write(tmp_path, "name: t\ngenerators: [none\n")
    with pytest.raises(SpecError) as e:
        load_spec(p)
    assert str(p) in str(e.value) and "malformed YAML" in str(e.value) and "line" in str(e.value)


def test_typo_key_is_an_error_listing_allowed_keys(tmp_path):
    data = {**BASE, "sedes": [0]}
    with pytest.raises(SpecError, match=r"unknown key 'sedes' \(did you mean 'seeds'\?\); allowed: .*seeds"):
        load_spec(write(tmp_path, data))


def test_nested_typo_names_key_path(tmp_path):
    data = {**BASE, "generation": {"n_sample": 3}}
    with pytest.raises(SpecError, match=r"generation: unknown key 'n_sample' \(did you mean 'n_samples'\?\); allowed: .*n_samples"):
        load_spec(write(tmp_path, data))


def test_unknown_generator_lists_registered(tmp_path):
    data = {**BASE, "generators": [{"name": "none"}, {"name": "cutpasta"}]}
    with pytest.raises(SpecError) as e:
        load_spec(write(tmp_path, data))
    msg = str(e.value)
    assert "generators.1.name: unknown generator 'cutpasta'" in msg and "cutpaste" in msg
    assert "\n" not in msg


def test_unknown_detector_and_dataset(tmp_path):
    with pytest.raises(SpecError, match=r"detectors.0.name: unknown detector 'nope'"):
        load_spec(write(tmp_path, {**BASE, "detectors": [{"name": "nope"}]}))
    with pytest.raises(SpecError, match=r"datasets.0.name: unknown dataset 'nope'"):
        load_spec(write(tmp_path, {**BASE, "datasets": [{"name": "nope"}]}))


def test_plugin_params_are_validated_at_load(tmp_path):
    data = {**BASE, "detectors": [{"name": "supervised-seg", "params": {"no_such_param": 1}}]}
    with pytest.raises(SpecError, match=r"detectors.0.params: supervised-seg: param 'no_such_param'"):
        load_spec(write(tmp_path, data))


def test_bad_values_name_the_allowed(tmp_path):
    with pytest.raises(SpecError, match=r"profile: must be one of"):
        load_spec(write(tmp_path, {**BASE, "profile": "fast"}))
    with pytest.raises(SpecError, match=r"split.generator_fraction"):
        load_spec(write(tmp_path, {**BASE, "split": {"generator_fraction": 1.5}}))
    with pytest.raises(SpecError, match=r"duplicate entries \['none'\]"):
        load_spec(write(tmp_path, {**BASE, "generators": [{"name": "none"}, {"name": "none"}]}))


def test_set_overrides(tmp_path):
    p = write(tmp_path, BASE)
    spec = load_spec(p, ["seeds=[1,2]", "generators.1.params.area_ratio=[0.05,0.1]", "image_size=64"])
    assert spec.seeds == [1, 2] and spec.image_size == 64
    assert spec.generators[1].params == {"area_ratio": [0.05, 0.1]}
    with pytest.raises(SpecError, match=r"--set generators.5.name"):
        load_spec(p, ["generators.5.name=x"])
    with pytest.raises(SpecError, match=r"expected key.path=value"):
        load_spec(p, ["seeds"])


def test_shipped_experiments_validate():
    root = Path(__file__).resolve().parents[2] / "experiments"
    specs = sorted(root.glob("*.yaml"))
    assert {p.name for p in specs} >= {"quick.yaml", "builtin.yaml", "mvtec_loco.yaml"}
    for p in specs:
        load_spec(p)


def test_a_device_the_plugin_does_not_declare_is_refused(tmp_path, monkeypatch):
    """`supported_devices`: a spec naming a device type the plug-in does not run on fails at load."""
    from harness.core import GENERATORS, Entry

    cpu_only = type("CpuOnly", (GENERATORS.get("cutpaste"),), {"name": "cpu-only", "supported_devices": ("cpu",)})
    monkeypatch.setitem(GENERATORS._entries, "cpu-only", Entry("cpu-only", cpu_only, "", "test"))
    spec = {**BASE, "generators": [{"name": "cpu-only"}]}
    with pytest.raises(SpecError, match="device: cuda, but cpu-only runs on cpu only; set device: cpu or auto"):
        load_spec(write(tmp_path, {**spec, "device": "cuda"}))
    assert load_spec(write(tmp_path, {**spec, "device": "cpu"})).device == "cpu"
    assert load_spec(write(tmp_path, spec)).device == "auto"
