"""The run's live display: jobs' notes reach the driver as they happen, on every executor, and
nothing else (warnings, log records) tears the bar apart."""

from __future__ import annotations

import io
import re
import time
import warnings
from pathlib import Path

import pytest

from harness.config import validate_spec
from harness.executors.base import JobCallbacks
from harness.jobs import GenerateJob, JobEnv
from harness.pipeline import load_tables, plan
from harness.progress import GridProgress

SIZE = 64


def _spec(out: Path) -> dict:
    return {"name": "progress", "image_size": SIZE, "seeds": [0],
            "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
            "generation": {"n_samples": 4, "quality_metrics": False},
            "generators": [{"name": "cutpaste"}],
            "detectors": [{"name": "supervised-seg", "params": {"base_width": 4, "max_steps": 2, "batch_size": 4,
                                                               "input_size": SIZE}}],
            "output_dir": str(out), "report": {"dir": str(out / "report")}}


def _run_and_record(executor, tmp_path: Path) -> list[tuple[str, str, str]]:
    """Run the one-cell grid's jobs; what the driver's callbacks heard, in order: (job kind, event, text)."""
    from harness.data.split import write_split

    spec = validate_spec(_spec(tmp_path / "run"))
    jobs = plan(spec, load_tables(spec))
    write_split(jobs[0].data.split, spec.run_dir / jobs[0].data.split_file)
    heard: list[tuple[str, str, str]] = []

    def kind(job) -> str:
        return "fit" if isinstance(job, GenerateJob) else "cell"

    callbacks = JobCallbacks(started=lambda j: heard.append(("cell", "start", "")),
                             done=lambda j, r: heard.append(("cell", "done", type(r).__name__)),
                             event=lambda j, k, text: heard.append((kind(j), k, text)))
    env = JobEnv(spec.run_dir.resolve(), "cpu", 1)
    executor.run(spec, jobs, env, callbacks)
    return heard


def _assert_notes_arrive_in_order(heard: list[tuple[str, str, str]]) -> None:
    fit_notes = [t for k, e, t in heard if (k, e) == ("fit", "note")]
    assert any(t.startswith("fitting cutpaste") for t in fit_notes), heard
    assert ("fit", "end", "") in heard  # the fit is counted when it ends, and it ended well
    cell = [e for k, e, t in heard if k == "cell"]
    assert cell[0] == "start" and cell[-1] == "done", heard
    assert "note" in cell  # "training supervised-seg ..." heard while the cell ran, before it ended
    assert heard[-1] == ("cell", "done", "DetectResult")
    assert heard.index(("fit", "end", "")) < [h[1] for h in heard].index("done")


def test_a_note_inside_a_local_job_reaches_the_driver_as_it_happens(tmp_path):
    from harness.executors.local import LocalExecutor

    _assert_notes_arrive_in_order(_run_and_record(LocalExecutor(), tmp_path))


@pytest.mark.slow
def test_a_note_inside_a_ray_worker_reaches_the_driver_while_the_job_runs(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray not installed (pip install -e '.[ray]')")
    from harness.executors.ray_executor import RayExecutor

    try:
        _assert_notes_arrive_in_order(_run_and_record(RayExecutor(num_cpus=2), tmp_path))
    finally:
        ray.shutdown()


def test_the_clock_moves_while_nothing_finishes_and_other_output_goes_above_the_bar():
    out = io.StringIO()
    t = [0.0]
    with GridProgress(1, 2, stream=out, refresh_s=0.02, now=lambda: t[0]) as progress:
        progress.started("g", "fit dhdiff s0")
        t[0] = 75.0
        time.sleep(0.2)  # the refresh thread redraws with no event at all
        assert "running: fit dhdiff s0 1:15" in out.getvalue()
        warnings.warn("a third-party deprecation", UserWarning, stacklevel=1)
        print("a plug-in's stray print")  # noqa: T201 - what a plug-in might do
        progress.note("g", "sampling 48 pairs from dhdiff")
        progress.finished("g", fit=True)
    raw = out.getvalue()
    # each a whole line, written only after the bar's line was cleared: never glued to its text
    for text in ("UserWarning: a third-party deprecation", "a plug-in's stray print",
                 "  [1:15] sampling 48 pairs from dhdiff"):
        assert re.search(r"\r +\r" + re.escape(text) + "\n", raw), (text, raw)
    assert progress.status() == "fits 1/1 · cells 0/2"


def test_on_the_real_streams_lines_are_written_only_after_the_bar_is_cleared():
    """As in a terminal: the bar on stderr, lines on stdout, both to one place (here a pipe)."""
    import os
    import subprocess
    import sys

    code = ("import time, logging, warnings\n"
            "from harness.progress import GridProgress\n"
            "logging.basicConfig()\n"
            "with GridProgress(1, 1, refresh_s=0.02) as p:\n"
            "    p.started('g', 'fit x'); time.sleep(0.1)\n"
            "    p.note('g', 'a note'); print('a print'); logging.getLogger('ray').warning('a log record')\n"
            "    warnings.warn('a warning'); time.sleep(0.1)\n")
    root = Path(__file__).resolve().parents[2]
    raw = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env={**os.environ, "PYTHONPATH": str(root)}, check=True, timeout=60).stdout.decode()
    assert "grid: fits 0/1" in raw
    for text in ("  [0:00] a note", "a print", "WARNING:ray:a log record", "UserWarning: a warning"):
        assert re.search(r"\r +\r" + re.escape(text) + "\n", raw), (text, raw)


def test_a_step_before_the_grid_shows_a_moving_clock():
    from harness.progress import phase

    out = io.StringIO()
    with phase("checking data: builtin", stream=out, refresh_s=0.02):
        time.sleep(1.1)
    assert "checking data: builtin [00:00]" in out.getvalue() and "checking data: builtin [00:01]" in out.getvalue()
    quiet = io.StringIO()
    with phase("checking data: builtin", enabled=False, stream=quiet):
        pass
    assert quiet.getvalue() == ""  # --no-progress: no display, no line
