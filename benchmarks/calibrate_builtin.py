"""Difficulty calibration of the built-in dataset: one-class detectors' image AUROC.

    OMP_NUM_THREADS=1 BENCH_DATA_DIR=/tmp/calib python benchmarks/calibrate_builtin.py \
        padim,patchcore pushpins,screw_bag,juice_bottle,tiles [--data-dir DIR] [--root DIR] [--per-defect]

Prints `detector category kind auroc` lines (test role of the seed-0 few-shot split, 128 px,
`cpu-quick` profile), kind = `overall` (normal test images vs. every anomaly of the category),
`logical`, `structural`, and with `--per-defect` one line per defect type.

Data: by default the `builtin` adapter's cache (``$BENCH_DATA_DIR``, or `--data-dir`, which
sets it; drawn on first use). `--root DIR` instead draws just the named categories into DIR
(those not there yet) and reads them from there. Torch runs on one thread; the script
re-executes itself with `MALLOC_ENV` (glibc malloc settings, see below) unless they are set.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


#: glibc reads these at start-up only. With anomalib's default per-thread arenas and dynamic
#: mmap threshold, PatchCore's k-center-greedy coreset grew to 22-24 GB RSS on screw_bag
#: (OOM-killed; `harness.runtime.limit_malloc_arenas` at run time did not prevent it); with
#: both set it peaks at ~1.3 GB. They change memory, not results.
MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "65536"}


def main(argv: list[str] | None = None) -> None:
    if argv is None and any(k not in os.environ for k in MALLOC_ENV):
        for k, v in MALLOC_ENV.items():
            os.environ.setdefault(k, v)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        os.execv(sys.executable, [sys.executable, *sys.argv])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("detectors", help="comma-separated, e.g. padim,patchcore")
    ap.add_argument("categories", help="comma-separated built-in categories")
    ap.add_argument("--data-dir", help="cache folder for the builtin adapter (sets BENCH_DATA_DIR)")
    ap.add_argument("--root", help="draw the categories into this folder (if absent) and read them from it")
    ap.add_argument("--per-defect", action="store_true", help="also print AUROC per defect type")
    ap.add_argument("--seed", type=int, default=0, help="drawing seed of the dataset (default 0)")
    args = ap.parse_args(argv)
    if args.data_dir:
        os.environ["BENCH_DATA_DIR"] = args.data_dir  # before the adapter reads it

    import numpy as np
    import torch
    from sklearn.metrics import roc_auc_score

    from harness.core import TrainSet
    from harness.data.builtin import synthesize
    from harness.data.split import few_shot_split, rows_for
    from harness.core import RunContext
    from harness.core import DATASETS, DETECTORS
    from harness.core.runtime import limit_malloc_arenas

    torch.set_num_threads(1)
    limit_malloc_arenas()  # PatchCore's coreset otherwise grows past 9 GB on CPU
    cats = args.categories.split(",")
    root = None
    if args.root:
        root = Path(args.root)
        missing = [c for c in cats if not (root / c / "defects_config.json").is_file()]
        if missing:
            synthesize(root, categories=missing, image_size=128, seed=args.seed)
    adapter = DATASETS.get("builtin")(root, {"seed": args.seed}, image_size=128)
    for cat in cats:
        split = few_shot_split(adapter.load(cat), seed=0)
        train = TrainSet(normal=[Path(p) for p in rows_for(split, "detector_train")["image_path"]],
                         validation_normal=[Path(p) for p in rows_for(split, "validation")["image_path"]])
        test = rows_for(split, "test")
        labels = test["label"].to_numpy()
        normal = labels == 0
        for name in args.detectors.split(","):
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as wd:
                ctx = RunContext(category=cat, image_size=128, profile="cpu-quick", device="cpu",
                                 work_dir=Path(wd), show_progress=False)
                det = DETECTORS.get(name)(None, ctx, seed=0)
                det.fit(train)
                scores = np.asarray(det.predict(test).image_scores, float)
            groups = [("overall", ~normal)]
            groups += [(kind, (test["anomaly_kind"] == kind).to_numpy()) for kind in ("logical", "structural")]
            if args.per_defect:
                groups += [(d, (test["defect_type"] == d).to_numpy() & ~normal)
                           for d in dict.fromkeys(test.loc[~normal, "defect_type"])]
            for kind, sel in groups:
                sel = sel | normal
                print(name, cat, kind, round(roc_auc_score(labels[sel], scores[sel]), 3), flush=True)
            print(f"# {name} {cat}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
