"""End-to-end grid runs on the built-in data: results, MLflow, resume, determinism (leakage: tests/contract)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cells import CellStore
from harness.config import validate_spec
from harness.data.split import read_split
from harness.pipeline import run_experiment

SIZE = 64


def tiny_spec(tmp_path: Path, **over) -> dict:
    spec = {
        "name": "tiny",
        "image_size": SIZE,
        "seeds": [0],
        "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
        "generation": {"n_samples": 8, "quality_metrics": False},
        "generators": [{"name": "none"}, {"name": "cutpaste"}],
        "detectors": [{"name": "supervised-seg", "params": {"base_width": 4, "max_steps": 4, "batch_size": 4,
                                                           "input_size": SIZE}}],
        "output_dir": str(tmp_path / "run"),
        "report": {"dir": str(tmp_path / "report")},
    }
    spec.update(over)
    return spec


@pytest.mark.slow
def test_tiny_grid_end_to_end_and_resume(tmp_path):
    spec = validate_spec(tiny_spec(tmp_path))
    said: list[str] = []
    summary = run_experiment(spec, show_progress=False, echo=said.append)
    assert summary.failed == [] and summary.finished == 2 and summary.resumed == 0
    assert [m.split("]")[0] for m in said if m.startswith("[")] == ["[1/2", "[2/2"]  # stage lines without a bar
    records = {r.key.generator: r for r in CellStore(spec.run_dir).records()}
    assert set(records) == {"none", "cutpaste"}
    for rec in records.values():
        for m in ("image_auroc", "image_ap", "pixel_auroc", "pixel_ap"):
            assert 0.0 <= rec.metrics[m] <= 1.0
    assert records["cutpaste"].n_generated == 8 and records["none"].n_generated == 0
    # what the generator cost, next to what the detector cost (issue 31): CPU run, so no GPU-seconds
    cost = records["cutpaste"].generator_cost
    assert cost["n_sampled"] == 8 and cost["fit_seconds"] >= 0 and cost["sample_seconds"] > 0
    # images/s from the unrounded time; the record's seconds are rounded to the millisecond
    assert cost["images_per_second"] * cost["sample_seconds"] == pytest.approx(8, abs=cost["images_per_second"] * 5e-4 + 1e-3)
    assert cost["gpu_seconds"] is None and cost["device"] == "cpu"
    assert records["none"].generator_cost.get("n_sampled", 0) == 0

    # augmented set on disk, MVTec-style, with hashes
    manifest = json.loads(Path(records["cutpaste"].augmented_manifest).read_text())
    root = Path(records["cutpaste"].augmented_manifest).parent
    assert len(manifest["generated"]) == 8 and [p.name for p in root.glob("grid*.png")] == ["grid.png"]
    first = manifest["generated"][0]
    assert (root / first["image"]).is_file() and (root / first["mask"]).name.endswith("_mask.png")

    # one MLflow run per cell, with metrics and the sample grid
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=spec.mlflow_uri)
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("bench.kind") == "grid"]  # the grid's parent run
    runs = [r for r in runs if r is not parent]
    assert len(runs) == 2 and all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in runs)
    cut = next(r for r in runs if r.data.tags["generator"] == "cutpaste")
    assert cut.data.metrics["pixel_ap"] == pytest.approx(records["cutpaste"].metrics["pixel_ap"])
    assert int(cut.data.tags["torch_threads"]) >= 1 and cut.data.tags["torch"]  # what else fixes the numbers
    assert {a.path for a in client.list_artifacts(cut.info.run_id)} >= {"grid.png", "manifest.json"}

    # a re-run resumes every cell and trains nothing
    said.clear()
    again = run_experiment(spec, show_progress=False, echo=said.append)
    assert again.finished == 0 and again.resumed == 2 and said == [f"resuming: 2/2 cells already done in {spec.run_dir}"]
    assert len(client.search_runs([exp.experiment_id])) == 3  # the same parent and cells, nothing new

    # changing one detector param re-runs only the cells it affects
    changed = tiny_spec(tmp_path)
    changed["generators"] = [{"name": "none"}]
    changed["detectors"][0]["params"]["max_steps"] = 3
    s3 = run_experiment(validate_spec(changed), show_progress=False, echo=lambda m: None)
    assert s3.finished == 1 and s3.resumed == 0


@pytest.mark.slow
def test_same_seed_same_numbers_and_files(tmp_path):
    results = []
    for sub in ("a", "b"):
        spec = validate_spec(tiny_spec(tmp_path / sub, generators=[{"name": "cutpaste"}]))
        assert run_experiment(spec, show_progress=False, echo=lambda m: None).failed == []
        (rec,) = CellStore(spec.run_dir).records()
        manifest = json.loads(Path(rec.augmented_manifest).read_text())
        results.append((rec.metrics, [g["sha256"] for g in manifest["generated"]]))
    assert results[0][1] == results[1][1]
    assert results[0][0] == pytest.approx(results[1][0], abs=1e-6)


def _shared_data() -> Path | None:
    here = Path(__file__).resolve()
    for cand in (here.parents[2] / ".." / "shared" / "data", Path("/work/shared/data")):
        if (cand / "hazelnut_toy_otx" / "hazelnut").is_dir():
            return cand.resolve()
    return None


@pytest.mark.slow
@pytest.mark.skipif(_shared_data() is None, reason="shared real datasets (../shared/data) not present")
def test_one_cell_on_real_hazelnut_images(tmp_path):
    """The real-data path: MVTec AD layout, JPEG photos, a real few-shot split, copy-paste of real defects."""
    spec = validate_spec(tiny_spec(
        tmp_path,
        datasets=[{"name": "mvtec_ad", "root": str(_shared_data() / "hazelnut_toy_otx"), "categories": ["hazelnut"]}],
        generators=[{"name": "copy-paste"}],
    ))
    summary = run_experiment(spec, show_progress=False, echo=lambda m: None)
    assert summary.failed == [] and summary.finished == 1
    (rec,) = CellStore(spec.run_dir).records()
    assert rec.n_generated == 8 and 0.0 <= rec.metrics["pixel_ap"] <= 1.0
    manifest = json.loads(Path(rec.augmented_manifest).read_text())
    assert {g["defect_type"] for g in manifest["generated"]} == {"colour"}
    assert (Path(rec.augmented_manifest).parent / "grid_colour.png").is_file()  # one grid per defect type
    split = read_split(next((spec.run_dir / "splits").rglob("seed0.json")))
    seen = {g["source_sha256"] for g in manifest["generator_train"]}
    test_hashes = set(split.loc[split["role"] == "test", "sha256"])
    assert seen and not seen & test_hashes
