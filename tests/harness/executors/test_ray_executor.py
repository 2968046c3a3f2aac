"""The Ray executor runs the same jobs as the local one: same records, same numbers, resumable."""

from __future__ import annotations

import time

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

    # one GPU in Ray's bookkeeping only (no CUDA here): the fractional-GPU test's jobs ask for half of it
    executor = RayExecutor(num_cpus=2, num_gpus=1)
    yield executor
    ray.shutdown()


def _metrics(run_dir: Path) -> dict:
    return {(r.key.generator, r.key.fingerprint): (r.metrics, r.curve, r.n_generated)
            for r in CellStore(run_dir).records()}


@pytest.mark.slow
def test_ray_grid_matches_local_and_resumes(tmp_path, ray_executor):
    import torch

    from harness.core.runtime import apply_threads

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
    (parent,) = [r for r in runs if r.data.tags.get("bench.kind") == "grid"]  # one parent run per grid
    cells = [r for r in runs if r is not parent]
    assert len(cells) == 2 and all(r.mlflow_run_id for r in CellStore(spec.run_dir).records())
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in cells)

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


@pytest.mark.slow
def test_jobs_sharing_one_gpu_give_the_local_executors_numbers(tmp_path, ray_executor):
    """`--gpus-per-job 0.5`: two jobs side by side on one card (here Ray's bookkeeping of a declared
    GPU; the jobs compute on the CPU) record what one-at-a-time local jobs record."""
    import torch

    from harness.executors.ray_executor import RayExecutor, gpu_shares
    from harness.core.runtime import apply_threads

    assert gpu_shares("cpu", 0.5) == (0.5, 0.5) and gpu_shares("cpu", None) == (0.0, 0.0)
    threads = torch.get_num_threads()
    apply_threads(1)
    try:
        gens = [{"name": "none"}, {"name": "cutpaste"}, {"name": "copy-paste"}]
        local = validate_spec(_spec(tmp_path / "local", gens))
        assert run_experiment(local, show_progress=False, echo=lambda m: None).failed == []
        ray_executor._init()
        assert ray.cluster_resources().get("GPU") == 1
        shared = RayExecutor(gpus_per_job=0.5)
        spec = validate_spec(_spec(tmp_path / "ray", gens))
        summary = run_experiment(spec, show_progress=False, echo=lambda m: None, executor=shared)
    finally:
        apply_threads(threads)
    assert summary.failed == [] and summary.finished == 3
    assert _metrics(spec.run_dir) == _metrics(local.run_dir)
    # every share handed back; Ray's resource view is updated asynchronously after the tasks end
    # (a CI run once read 0.5 right after the grid returned), so it is given a few seconds
    deadline = time.monotonic() + 15
    while ray.available_resources().get("GPU") != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ray.available_resources().get("GPU") == 1


def test_gpu_shares_fit_the_card_by_measured_peaks():
    from harness.executors.ray_executor import MAX_JOBS_PER_GPU, OTHER_JOB_GIB, TRAINING_FIT_GIB, gpu_share

    assert gpu_share(TRAINING_FIT_GIB, 139.0) == 1 / 2  # an H200: two diffusion fits side by side
    assert gpu_share(OTHER_JOB_GIB, 139.0) == 1 / MAX_JOBS_PER_GPU
    assert gpu_share(TRAINING_FIT_GIB, 24.0) == 1.0  # a card smaller than a fit's peak: one at a time
