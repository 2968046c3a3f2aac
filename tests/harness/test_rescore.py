"""`bench quality RUN_DIR`: metrics left n/a are filled in from the set and the recorded split, nothing else."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from harness.augmented import write_augmented
from harness.cells import CellKey, CellRecord, CellStore
from harness.cli import main
from harness.core.generator import AnomalyPair
from harness.core.io import file_sha256, load_image, save_png
from harness.metrics import generation as G


def _colour_features(x: torch.Tensor) -> torch.Tensor:
    x = x.double() / 255.0
    return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setattr(G, "load_pool3", lambda *a, **k: G.Pool3Features(_colour_features, "colour (test)", "none"))
    rng = np.random.default_rng(0)
    run = tmp_path / "run"
    real = []
    for i in range(4):
        p = tmp_path / "data" / f"real{i}.png"
        save_png(rng.integers(0, 120, (32, 32, 3)).astype(np.uint8), p)
        real.append({"image_path": str(p), "role": "generator_train", "defect_type": "crack", "label": 1,
                     "category": "cat", "sha256": file_sha256(p)})
    test_img = tmp_path / "data" / "test.png"
    save_png(np.full((32, 32, 3), 255, np.uint8), test_img)  # a test row must never be used
    rows = real + [{"image_path": str(test_img), "role": "test", "defect_type": "crack", "label": 1,
                    "category": "cat", "sha256": file_sha256(test_img)}]
    (run / "splits" / "builtin" / "cat").mkdir(parents=True)
    (run / "splits" / "builtin" / "cat" / "seed0.json").write_text(json.dumps({"version": 1, "rows": rows}))
    (run / "spec.json").write_text(json.dumps({"image_size": 32, "generation": {"ic_lpips_size": 32},
                                               "weights_dir": None}))
    pairs = [AnomalyPair(rng.integers(100, 256, (32, 32, 3)).astype(np.uint8), np.eye(32, dtype=bool), "crack")
             for _ in range(6)]
    mask_wd = {"value": 0.1, "unavailable": None, "params": {}}
    quality = {"kid": {"value": None, "unavailable": "KID/FID need Inception pool3 weights", "params": {}},
               "mask_area_wd": mask_wd}
    root = run / "augmented" / "builtin" / "cat" / "cutpaste" / "seed0-abc"
    write_augmented(root, normal_images=[], normal_sources=[], pairs=pairs, generator_train_sources=[],
                    info={"dataset": "builtin", "category": "cat", "seed": 0, "generator": "cutpaste",
                          "quality": quality})
    CellStore(run).save(CellRecord(CellKey("builtin", "cat", "cutpaste", "seg", 0, "f"), {"pixel_ap": 0.5},
                                   generation=quality, n_generated=6,
                                   augmented_manifest=str(root / "manifest.json")))
    return run, pairs, root


def test_bench_quality_fills_in_kid_from_the_generator_train_split(run_dir):
    run, pairs, root = run_dir
    res = CliRunner().invoke(main, ["quality", str(run)])
    assert res.exit_code == 0, res.output
    assert "re-scored: kid 1" in res.output and "1 cell records and 0 MLflow runs updated" in res.output
    manifest = json.loads((root / "manifest.json").read_text())
    kid = manifest["quality"]["kid"]
    feats = G.Pool3Features(_colour_features, "colour (test)", "none")
    reals = [AnomalyPair(load_image(run.parent / "data" / f"real{i}.png"), np.zeros((32, 32), bool), "crack")
             for i in range(4)]
    expected = G.kid_fid_metrics(pairs, reals, feats)["kid"].value
    assert kid["value"] == pytest.approx(expected) and kid["params"]["n_real"] == 4  # the test row is not used
    assert manifest["quality"]["mask_area_wd"]["value"] == 0.1  # values already there are kept
    cell = CellStore(run).records()[0]
    assert cell.generation["kid"]["value"] == pytest.approx(expected)
    again = CliRunner().invoke(main, ["quality", str(run)])
    assert again.exit_code == 0 and "re-scored: kid" not in again.output


def test_bench_quality_changed_dataset_is_one_clear_error(run_dir):
    run, _, root = run_dir
    save_png(np.zeros((32, 32, 3), np.uint8), run.parent / "data" / "real0.png")
    before = (root / "manifest.json").read_text()
    res = CliRunner().invoke(main, ["quality", str(run)])
    assert res.exit_code == 2 and "real0.png: generator-train image missing or changed" in res.output
    assert (root / "manifest.json").read_text() == before  # nothing half-written
    res = CliRunner().invoke(main, ["quality", str(run.parent / "nowhere")])
    assert res.exit_code != 0


def test_bench_quality_updates_the_cells_mlflow_run(run_dir):
    from harness.tracking import Tracker

    run, _, _ = run_dir
    spec = json.loads((run / "spec.json").read_text())
    (run / "spec.json").write_text(json.dumps({**spec, "name": "rescore-test"}))
    store = CellStore(run)
    rec = store.records()[0]
    tracker = Tracker(f"sqlite:///{run / 'mlflow.db'}", "rescore-test", run / "mlartifacts")
    rec.mlflow_run_id = tracker.log_cell(rec, {}, [])
    store.save(rec)
    before = tracker.client.get_run(rec.mlflow_run_id).data
    assert "gen_kid" not in before.metrics and "gen_kid.unavailable" in before.tags
    res = CliRunner().invoke(main, ["quality", str(run)])
    assert res.exit_code == 0 and "1 cell records and 1 MLflow runs updated" in res.output, res.output
    after = tracker.client.get_run(rec.mlflow_run_id).data
    kid = CellStore(run).records()[0].generation["kid"]
    assert after.metrics["gen_kid"] == pytest.approx(kid["value"])
    assert "gen_kid.unavailable" not in after.tags and not any(k.startswith("gen") for k in after.params)
    logged = json.loads(open(tracker.client.download_artifacts(rec.mlflow_run_id, "generation.json")).read())
    assert logged["kid"]["params"]["n_real"] == 4  # what the metric measured with: the artifact, not params
    assert after.metrics["gen_mask_area_wd"] == before.metrics["gen_mask_area_wd"]  # what was there is kept


def test_bench_quality_waits_for_no_run_holding_the_folder(run_dir):
    from harness.core.lock import run_lock

    run, _, root = run_dir
    before = (root / "manifest.json").read_text()
    with run_lock(run, warn=lambda m: None):
        res = CliRunner().invoke(main, ["quality", str(run)])
    assert res.exit_code == 2 and "in use by another bench run" in res.output
    assert (root / "manifest.json").read_text() == before
