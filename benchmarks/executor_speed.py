"""The same grid with `--executor local` and `--executor ray`: wall times, ratio, identical numbers.

8 cells on the built-in data (pushpins at 64 px, 2 seeds; generators none / CutPaste /
copy-paste for a small `supervised-seg` of `--steps` steps, plus the one-class PaDiM), one
torch thread per job in both runs, each on a fresh output folder. Ray gets every core of this
machine (one job per core). Prints both wall times (from `run_experiment`'s start to its end,
Ray's start-up included; the driver's imports and the data drawing happen before either
timing), the ratio, and fails if any cell's metrics or training curve differ.

Ray's start-up is a fixed cost the cells must outweigh: measured on the 2-core box, idle,
`ray.init` took 6 s and each worker's first import of the harness 14–15 s (both workers at
once), ~21 s in all. With `--steps 4` the cells are so short that this decides the ratio.

    OMP_NUM_THREADS=1 python benchmarks/executor_speed.py [--steps N] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from harness.cells import CellStore
from harness.config import validate_spec
from harness.pipeline import run_experiment
from harness.core.runtime import apply_threads, available_cores

SIZE = 64


def grid(out: Path, steps: int) -> dict:
    return {
        "name": "executor-speed", "image_size": SIZE, "seeds": [0, 1],
        "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
        "generation": {"n_samples": 8, "quality_metrics": False},
        "generators": [{"name": "none"}, {"name": "cutpaste"}, {"name": "copy-paste"}],
        "detectors": [{"name": "supervised-seg", "params": {"base_width": 4, "max_steps": steps, "batch_size": 4,
                                                           "input_size": SIZE}},
                      {"name": "padim", "params": {"input_size": SIZE}}],
        "output_dir": str(out), "report": {"dir": str(out / "report")},
    }


def results(run_dir: Path) -> dict:
    return {r.key.slug: (r.metrics, r.curve, r.n_generated) for r in CellStore(run_dir).records()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="where both run folders go (default: a temp folder)")
    ap.add_argument("--steps", type=int, default=800,
                    help="supervised-seg training steps per cell (~40 ms each on one core); with 4 or 40 the "
                         "cells are so short that Ray's fixed start-up decides the ratio")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="executor-speed-"))
    apply_threads(1)
    from harness.pipeline import load_tables  # the built-in data is drawn once, outside both timings

    load_tables(validate_spec(grid(out / "warm", args.steps)))

    from harness.executors.local import LocalExecutor
    from harness.executors.ray_executor import RayExecutor

    walls = {}
    for name, executor in (("local", LocalExecutor()), ("ray", RayExecutor(num_cpus=available_cores()))):
        spec = validate_spec(grid(out / name, args.steps))
        t0 = time.perf_counter()
        summary = run_experiment(spec, show_progress=False, echo=lambda m: None, executor=executor)
        walls[name] = time.perf_counter() - t0
        if summary.failed or summary.finished != 8:
            print(f"{name}: {summary}", file=sys.stderr)
            return 1
        print(f"{name:>5}: {summary.finished} cells in {walls[name]:.1f} s", flush=True)
    same = results(out / "local") == results(out / "ray")
    print(f"ratio local/ray: {walls['local'] / walls['ray']:.2f}x on {available_cores()} cores; "
          f"metrics identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
