"""The job graph: every executor runs a job after the jobs it needs, each need once, and a failed
need fails the jobs that need it without running them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from harness.graph import JobCallbacks, JobFailed, heavy_first, in_order
from harness.jobs import JobEnv


@dataclass(frozen=True, eq=False)
class Step:
    """A job that refuses to run before its needs have left their marker files in `context`."""

    name: str
    needs: tuple["Step", ...] = ()
    fail: bool = False
    heavy: bool = False

    @property
    def id(self) -> str:
        return self.name

    def run(self, context: Path, env: JobEnv, inputs) -> str:
        missing = [n.name for n in self.needs if not (context / n.name).exists()]
        if missing:
            raise RuntimeError(f"{self.name} ran before {missing}")
        if (context / self.name).exists():
            raise RuntimeError(f"{self.name} ran twice")
        env.note(f"running {self.name}")
        if self.fail:
            raise ValueError(f"{self.name} broke")
        (context / self.name).write_text("done")
        return f"{self.name}({'+'.join(inputs)})"


def _graph() -> list[Step]:
    """A diamond (a → b, a + b → c) under one target, a target sharing a need, one with none, and two
    whose needs fail (directly, and through a need of a need)."""
    a = Step("a")
    b = Step("b", (a,))
    c = Step("c", (a, b))
    broken = Step("broken", fail=True)
    return [Step("t1", (c,)), Step("t2", (a,)), Step("t3"), Step("t4", (broken,)),
            Step("t5", (Step("after-broken", (broken,)),))]


def _run(executor, tmp_path: Path) -> tuple[dict, list, list]:
    done: dict[str, object] = {}
    started: list[str] = []
    events: list[tuple[str, str, str]] = []
    callbacks = JobCallbacks(started=lambda j: started.append(j.id), done=lambda j, r: done.__setitem__(j.id, r),
                             event=lambda j, kind, text: events.append((j.id, kind, text)))
    executor.run(tmp_path, _graph(), JobEnv(tmp_path, "cpu", 1), callbacks)
    return done, started, events


def _check(done: dict, started: list, events: list) -> None:
    assert done["t1"] == "t1(c(a()+b(a())))"  # c got its needs' results, in order
    assert done["t2"] == "t2(a())" and done["t3"] == "t3()"
    for target in ("t4", "t5"):  # failed with the need's own error, never started
        assert isinstance(done[target], JobFailed) and done[target].message == "ValueError: broken broke"
        assert "Traceback" in done[target].details and target not in started
    assert sorted(started) == ["t1", "t2", "t3"]
    needs = [(job, kind) for job, kind, _ in events if kind != "note"]
    assert sorted(j for j, k in needs if k == "start") == ["a", "b", "broken", "c"]  # each need once
    ends = {j: text for j, kind, text in events if kind == "end"}
    assert ends == {"a": "", "b": "", "c": "", "broken": "ValueError: broken broke",
                    "after-broken": "ValueError: broken broke"}
    assert ("c", "note", "running c") in events


def test_the_local_executor_runs_needs_first_once_and_fails_their_dependents(tmp_path):
    from harness.executors.local import LocalExecutor

    done, started, events = _run(LocalExecutor(), tmp_path)
    _check(done, started, events)
    order = [j for j, kind, _ in events if kind == "start"]
    assert order.index("a") < order.index("b") < order.index("c")


@pytest.mark.slow
def test_the_ray_executor_runs_needs_first_once_and_fails_their_dependents(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install -e '.[ray]')")
    import sys

    from ray import cloudpickle

    from harness.executors.ray_executor import RayExecutor

    cloudpickle.register_pickle_by_value(sys.modules[Step.__module__])  # workers cannot import a test module
    try:
        _check(*_run(RayExecutor(num_cpus=2), tmp_path))
    finally:
        ray.shutdown()


def test_in_order_puts_each_need_once_before_its_first_user():
    (t1, t2, t3, t4, t5) = _graph()
    assert [j.id for j in in_order([t2, t1, t3])] == ["a", "t2", "b", "c", "t1", "t3"]
    assert [j.id for j in in_order([t4, t5])] == ["broken", "t4", "after-broken", "t5"]


def test_heavy_needs_go_first_with_one_light_job_between_them():
    """The fits start first (a fit started last runs alone at the end: the grid waits for its
    longest chain), with one cheap job between two fits so a first result shows early; the other
    cheap jobs follow the last fit."""
    from harness.core.registry import GENERATORS
    from harness.jobs import GenerateJob

    def job(gen, seed=0):
        needs = None
        if gen is not None:  # a generate job's `heavy`, with the registry's answer for this name
            spec = NS(generator=NS(name=gen))
            needs = NS(id=f"{gen}{seed}", heavy=GenerateJob.heavy.fget(spec))
        return NS(needs=needs, label=f"{gen}{seed}")

    assert GENERATORS.get("dhdiff").needs_training and not GENERATORS.get("cutpaste").needs_training
    jobs = [job(None), job("none"), job("cutpaste"), job("dhdiff"), job("copy-paste"), job("dhdiff", 1),
            job("twostage")]
    # three fits (dhdiff twice, twostage), one cheap job after each but the last, then the rest
    assert [j.label for j in heavy_first(jobs)] == [
        "dhdiff0", "None0", "dhdiff1", "none0", "twostage0", "cutpaste0", "copy-paste0"]
    two_fits = [job("dhdiff"), job("dhdiff", 1), *(job(g, s) for s in (0, 1) for g in (None, "none", "cutpaste"))]
    assert [j.label for j in heavy_first(two_fits)] == [
        "dhdiff0", "None0", "dhdiff1", "none0", "cutpaste0", "None1", "none1", "cutpaste1"]
    cheap = [job(None), job("none"), job("cutpaste")]
    assert heavy_first(cheap) == cheap
