"""MLflow as the browsable record: run names, params and the experiment as a user sees them in the UI."""

from __future__ import annotations

import pytest

from harness.cells import ONE_CLASS, CellKey, CellRecord
from harness.tracking import Tracker, generation_params, run_name

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


def test_run_name_puts_generator_and_detector_first():
    assert run_name(record().key) == "cutpaste → frozen-seg · builtin/pushpins · seed 1"
    assert run_name(record(ONE_CLASS).key).startswith("one-class → frozen-seg")


def test_params_of_metrics_not_computed_are_left_out_and_shared_ones_logged_once():
    flat = generation_params(record().generation)
    assert not any(k.startswith("gen_ic_lpips") for k in flat)  # unavailable: no params
    assert flat["gen.real.n_masks"] == "4" and flat["gen_mask_area_wd.n_real"] == "4"
    assert not any(k.startswith(("gen_mask_area_wd.real", "gen_mask_count_wd.real")) for k in flat)


def test_logged_run_as_the_ui_shows_it(tracker):
    rid = tracker.log_cell(record(), {"generator": {"name": "cutpaste", "label": None}, "image_size": 128}, [])
    run = tracker.client.get_run(rid)
    assert run.info.run_name == "cutpaste → frozen-seg · builtin/pushpins · seed 1"
    assert run.info.status == "FINISHED"
    assert abs((run.info.end_time - run.info.start_time) / 1000 - 42.0) < 0.01  # the cell's real duration
    params = run.data.params
    assert "p.generator.label" not in params and "None" not in params.values()
    assert params["p.generator.name"] == "cutpaste"
    assert run.data.metrics["pixel_ap"] == 0.5 and "gen_ic_lpips" not in run.data.metrics
    assert "weights missing" in run.data.tags["gen_ic_lpips.unavailable"]


def test_experiment_carries_the_description_and_versions_and_default_is_gone(tracker):
    exp = tracker.client.get_experiment(tracker.experiment_id)
    assert exp.tags["mlflow.note.content"] == "a demo grid"
    assert "version.torch" in exp.tags
    active = [e.name for e in tracker.client.search_experiments()]
    assert active == ["demo"]
