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


def test_generator_variants_that_differ_only_in_sampling_share_one_fit(tmp_path, monkeypatch):
    """The run's store of fitted models (`<run>/fits/`): DH-Diff variants whose training params
    agree fit once (the second finds the finished checkpoint); a training param makes a second fit."""
    import generators.diffusion.base as diffusion_base
    from generators.diffusion.training import train_loop
    from harness.jobs import JobEnv, run_generate

    tiny = dict(resolution=16, patch=2, block_channels=[16, 32], attention_levels=1, attention_heads=2,
                cross_attention_dim=16, steps=4, batch_size=2, sample_steps=2, sample_batch=8, checkpoint_every=4)
    variants = [{"name": "dhdiff", "label": "a", "params": tiny},
                {"name": "dhdiff", "label": "b", "params": {**tiny, "guidance_scale": 2.0, "placement": "anywhere",
                                                              "mask_sketch": 0.5}},
                {"name": "dhdiff", "label": "c", "params": {**tiny, "lr": 5e-4}}]
    spec = validate_spec({**_spec(tmp_path / "run"), "seeds": [0], "generators": variants,
                          "detectors": [{"name": "supervised-seg"}]})
    gen_jobs = {j.needs.generator.key: j.needs for j in plan(spec, load_tables(spec))}
    env = JobEnv(run_dir=spec.run_dir, device="cpu", threads=1)
    steps_trained: list[int] = []

    def counting_train_loop(model, step_loss, **kw):
        result = train_loop(model, step_loss, **kw)
        steps_trained.append(kw["steps"] - result.resumed_from)
        return result

    monkeypatch.setattr(diffusion_base, "train_loop", counting_train_loop)
    for label in ("a", "b", "c"):
        run_generate(spec, gen_jobs[label], env)
    assert steps_trained == [4, 0, 4]
    assert len(list((spec.run_dir / "fits").glob("dhdiff-*.pt"))) == 2
