"""MLflow as the browsable record: run names, params and the experiment as a user sees them in the UI."""

from __future__ import annotations

import pytest

from harness.cells import ONE_CLASS, CellKey, CellRecord
from harness.tracking import Tracker, attach_report, run_name

MASK_STATS = {"n_masks": 4, "mean_area_fraction": 0.02}


def record(generator: str = "cutpaste", seconds: float = 42.0) -> CellRecord:
    key = CellKey("builtin", "pushpins", generator, "frozen-seg", 1, "abc123")
    generation = {
        "ic_lpips": {"value": None, "unavailable": "weights missing; bench weights fetch lpips", "params": {"net": "vgg"}},
        "mask_area_wd": {"value": 0.1, "unavailable": None, "params": {"real": MASK_STATS, "n_real": 4}},
        "mask_count_wd": {"value": 0.3, "unavailable": None, "params": {"real": MASK_STATS, "n_real": 4}},
    }
    return CellRecord(key, {"pixel_ap": 0.5, "image_auroc": 0.8}, generation, n_generated=48, seconds=seconds)


@pytest.fixture
def tracker(tmp_path):
    return Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "demo", tmp_path / "mlartifacts", "a demo grid")


def test_run_name_fits_the_ui_with_the_seed_visible():
    assert run_name(record().key) == "cutpaste·frozen-seg·s1·pushpins"
    assert run_name(record(ONE_CLASS).key) == "one-class·frozen-seg·s1·pushpins"
    assert len(run_name(record("copy-paste").key)[:30].split("·")) >= 3  # seed within the UI's 30 characters


def test_logged_run_as_the_ui_shows_it(tracker):
    params = {"generator": {"name": "cutpaste", "label": None, "params": {"patch_scale": 0.1}}, "image_size": 128,
              "version": {"torch": "2.5.0"}}
    rid = tracker.log_cell(record(), params, [])
    run = tracker.client.get_run(rid)
    assert run.info.run_name == "cutpaste·frozen-seg·s1·pushpins"
    assert run.info.status == "FINISHED"
    assert abs((run.info.end_time - run.info.start_time) / 1000 - 42.0) < 0.01  # the cell's real duration
    params = run.data.params
    assert "generator.label" not in params and "None" not in params.values()
    assert params["generator.name"] == "cutpaste" and params["generator.params.patch_scale"] == "0.1"
    assert params["version.torch"] == "2.5.0"
    # measured values are metrics or generation.json, never params
    assert not any(k.startswith(("gen.", "gen_")) or k == "n_generated" for k in params), params
    assert run.data.metrics["n_generated"] == 48
    assert run.data.metrics["pixel_ap"] == 0.5 and "gen_ic_lpips" not in run.data.metrics
    assert "weights missing" in run.data.tags["gen_ic_lpips.unavailable"]
    generation = tracker.client.download_artifacts(rid, "generation.json")
    import json

    assert json.loads(open(generation).read())["mask_area_wd"]["params"]["real"] == MASK_STATS


def test_cells_are_children_of_one_parent_run_per_grid_found_again_on_a_rerun(tracker, tmp_path):
    parent = tracker.start_grid(tmp_path / "run", "demo", {"profile": "cpu-quick", "seeds": [0, 1]}, 2)
    child = tracker.log_cell(record(), {"image_size": 128}, [])
    assert tracker.client.get_run(child).data.tags["mlflow.parentRunId"] == parent
    tracker.finish_grid(failed=0)
    run = tracker.client.get_run(parent)
    assert run.info.status == "FINISHED" and run.data.params["profile"] == "cpu-quick"
    assert [a.path for a in tracker.client.list_artifacts(parent)] == ["spec.json"]
    report = tmp_path / "results.csv"
    report.write_text("generator,pixel_ap\ncutpaste,0.5\n")
    assert attach_report(tracker.client.tracking_uri, "demo", tmp_path / "run", [report]) == parent
    assert [a.path for a in tracker.client.list_artifacts(parent, "report")] == ["report/results.csv"]
    # a re-run of the same grid (resumed) finds the same parent instead of making a second one
    again = Tracker(tracker.client.tracking_uri, "demo", tmp_path / "mlartifacts")
    assert again.start_grid(tmp_path / "run", "demo", {}, 2) == parent
    assert tracker.client.get_run(parent).info.status == "RUNNING"


def test_experiment_carries_the_description_and_versions_and_default_is_gone(tracker):
    exp = tracker.client.get_experiment(tracker.experiment_id)
    assert exp.tags["mlflow.note.content"] == "a demo grid"
    assert "version.torch" in exp.tags
    active = [e.name for e in tracker.client.search_experiments()]
    assert active == ["demo"]
