"""The Ray executor runs the same jobs as the local one: same records, same numbers, resumable."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cells import CellStore
from harness.config import validate_spec
from harness.pipeline import run_experiment

ray = pytest.importorskip("ray", reason="Ray not installed (pip install -e '.[ray]')")

SIZE = 64


def _spec(out: Path, generators: list[dict]) -> dict:
    return {
        "name": "ray-tiny", "image_size": SIZE, "seeds": [0],
        "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
        "generation": {"n_samples": 8, "quality_metrics": False},
        "generators": generators,
        "detectors": [{"name": "supervised-seg", "params": {"base_width": 4, "max_steps": 4, "batch_size": 4,
                                                           "input_size": SIZE}}],
        "output_dir": str(out), "report": {"dir": str(out / "report")},
    }


@pytest.fixture(scope="module")
def ray_executor():
    from harness.executors.ray_executor import RayExecutor

    executor = RayExecutor(num_cpus=2)
    yield executor
    ray.shutdown()


def _metrics(run_dir: Path) -> dict:
    return {(r.key.generator, r.key.fingerprint): (r.metrics, r.curve, r.n_generated)
            for r in CellStore(run_dir).records()}


@pytest.mark.slow
def test_ray_grid_matches_local_and_resumes(tmp_path, ray_executor):
    import torch

    from harness.runtime import apply_threads

    threads = torch.get_num_threads()
    apply_threads(1)  # one thread per job, as each Ray job gets
    try:
        gens = [{"name": "none"}, {"name": "cutpaste"}]
        local = validate_spec(_spec(tmp_path / "local", gens))
        assert run_experiment(local, show_progress=False, echo=lambda m: None).failed == []
        spec = validate_spec(_spec(tmp_path / "ray", gens))
        said: list[str] = []
        summary = run_experiment(spec, show_progress=False, echo=said.append, executor=ray_executor)
    finally:
        apply_threads(threads)
    assert summary.failed == [] and summary.finished == 2
    assert _metrics(spec.run_dir) == _metrics(local.run_dir)  # identical numbers, keys and fingerprints
    assert sum(line.startswith("  ✓") for line in said) == 2

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=spec.mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("ray-tiny").experiment_id])
    assert len(runs) == 2 and all(r.mlflow_run_id for r in CellStore(spec.run_dir).records())

    again = run_experiment(spec, show_progress=False, echo=lambda m: None, executor=ray_executor)
    assert again.resumed == 2 and again.finished == 0


@pytest.mark.slow
def test_a_failing_generate_job_fails_its_cells_not_the_grid(tmp_path, ray_executor):
    spec = validate_spec(_spec(tmp_path / "ray", [{"name": "none"}, {"name": "cutpaste"}]))
    blocker = spec.run_dir / "augmented" / "builtin" / "pushpins" / "cutpaste"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the augmented set's folder should go")  # the worker cannot write the set
    summary = run_experiment(spec, show_progress=False, echo=lambda m: None, executor=ray_executor)
    assert summary.finished == 1 and len(summary.failed) == 1 and "cutpaste" in summary.failed[0]
    (failure,) = CellStore(spec.run_dir).failures()
    assert failure["key"]["generator"] == "cutpaste" and "Traceback" in failure["error"]
