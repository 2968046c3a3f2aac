"""Difficulty calibration of the built-in dataset: one-class detectors' image AUROC per anomaly kind.

    python benchmarks/calibrate_builtin.py padim,patchcore pushpins,screw_bag,juice_bottle,tiles

Prints `detector category kind auroc` lines (test role of the seed-0 few-shot split, 128 px).
"""
import sys
import tempfile
from pathlib import Path
import numpy as np
from sklearn.metrics import roc_auc_score
from detectors.base import TrainSet
from harness.data.split import few_shot_split, rows_for
from harness.plugin import RunContext
from harness.registry import DATASETS, DETECTORS
from harness.runtime import limit_malloc_arenas

limit_malloc_arenas()  # PatchCore's coreset otherwise grows past 9 GB on CPU

for cat in sys.argv[2].split(","):
    split = few_shot_split(DATASETS.get("builtin")(None, image_size=128).load(cat), seed=0)
    train = TrainSet(normal=[Path(p) for p in rows_for(split, "detector_train")["image_path"]],
                     validation_normal=[Path(p) for p in rows_for(split, "validation")["image_path"]])
    test = rows_for(split, "test")
    for name in sys.argv[1].split(","):
        with tempfile.TemporaryDirectory() as wd:
            ctx = RunContext(category=cat, image_size=128, profile="cpu-quick", device="cpu",
                             work_dir=Path(wd), show_progress=False)
            det = DETECTORS.get(name)(None, ctx, seed=0)
            det.fit(train)
            scores = np.asarray(det.predict(test).image_scores, float)
        for kind in ("logical", "structural"):
            sel = ((test["label"] == 0) | (test["anomaly_kind"] == kind)).to_numpy()
            print(name, cat, kind, round(roc_auc_score(test["label"].to_numpy()[sel], scores[sel]), 3))
