"""The driver's side of jobs: records a job wrote are kept, and logged if the driver died before logging them."""

from __future__ import annotations

from harness.cells import CellKey, CellRecord, CellStore
from harness.config import validate_spec
from harness.pipeline import load_tables, plan, run_experiment


def _spec(out):
    return {"name": "jobs", "image_size": 64, "seeds": [0, 1],
            "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
            "generation": {"n_samples": 4, "quality_metrics": False},
            "generators": [{"name": "none"}, {"name": "cutpaste"}],
            "detectors": [{"name": "supervised-seg"}, {"name": "padim"}],
            "output_dir": str(out), "report": {"dir": str(out / "report")}}


def test_plan_is_typed_jobs_sharing_one_generate_job_per_set(tmp_path):
    spec = validate_spec(_spec(tmp_path / "run"))
    jobs = plan(spec, load_tables(spec))
    assert [(j.key.generator, j.key.detector, j.key.seed) for j in jobs] == [
        ("-", "padim", 0), ("none", "supervised-seg", 0), ("cutpaste", "supervised-seg", 0),
        ("-", "padim", 1), ("none", "supervised-seg", 1), ("cutpaste", "supervised-seg", 1)]
    one_class = [j for j in jobs if j.generator is None]
    assert all(j.needs is None for j in one_class)
    needs = [j.needs for j in jobs if j.needs is not None]
    assert len({id(n) for n in needs}) == 4 and len({n.root for n in needs}) == 4
    assert all(n.root.parent.name == n.generator.key for n in needs)
    assert len({j.key.slug for j in jobs}) == 6


def test_cells_finished_by_a_dead_driver_are_logged_on_the_next_run(tmp_path):
    """A job writes its record before the driver logs it: a driver killed in between loses nothing."""
    spec = validate_spec({**_spec(tmp_path / "run"), "seeds": [0], "generators": [{"name": "none"}],
                          "detectors": [{"name": "supervised-seg"}]})
    (job,) = plan(spec, load_tables(spec))
    CellStore(spec.run_dir).save(CellRecord(job.key, {"image_auroc": 0.5}))
    said: list[str] = []
    summary = run_experiment(spec, show_progress=False, echo=said.append)
    assert summary.resumed == 1 and summary.finished == 0
    assert any(line.startswith("logged to MLflow:") for line in said)
    (rec,) = CellStore(spec.run_dir).records()
    assert rec.mlflow_run_id and isinstance(rec.key, CellKey)
