"""A tiny, deterministic detector for the reliability tests, and a `bench` entry for subprocesses.

`rel-mean` scores each pixel by its distance to the mean normal training image: cheap (no
network, milliseconds per cell), deterministic, and its numbers change when the data does,
which is what the resume tests need. Run as a script it is `bench` with `rel-mean`
registered; ``REL_HANG_AT`` makes it stop (touch ``REL_MARKER``, then sleep) at a chosen
point so a test can ``kill -9`` it there: ``fit`` (a detector cell), ``augmented`` (while
writing an augmented set) or ``mlflow`` (while logging a cell to MLflow).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness.core.detector import Detector, Predictions, TrainSet  # noqa: E402
from harness.core.registry import DETECTORS, Entry  # noqa: E402
from harness.core.io import load_image  # noqa: E402

NAME = "rel-mean"


_reached: dict[str, int] = {}


def _hang(point: str) -> None:
    """Stop here (forever, for a kill -9) the REL_HANG_NTH-th time `point` is reached."""
    if os.environ.get("REL_HANG_AT") != point:
        return
    _reached[point] = _reached.get(point, 0) + 1
    if _reached[point] == int(os.environ.get("REL_HANG_NTH", "1")):
        Path(os.environ["REL_MARKER"]).write_text(point)
        time.sleep(120)


class MeanDetector(Detector):
    """Distance to the mean normal image (test-only)."""

    name = NAME

    def fit(self, train: TrainSet) -> None:
        _hang("fit")
        size = self.context.image_size
        imgs = [load_image(p, size).astype(np.float32) for p in train.normal]
        imgs += [load_image(p, size).astype(np.float32) for p, _ in train.anomalous[:2]]
        self.mean = np.mean(imgs, axis=0)

    def predict(self, test: pd.DataFrame) -> Predictions:
        size = self.context.image_size
        maps = np.stack([np.abs(load_image(p, size).astype(np.float32) - self.mean).mean(axis=2)
                         for p in test["image_path"]]).astype(np.float32)
        return Predictions(maps.reshape(len(maps), -1).max(axis=1), maps)


def entry() -> Entry:
    return Entry(NAME, MeanDetector, "test-only", "test")


def register() -> None:
    DETECTORS._entries[NAME] = entry()


def _install_hangs() -> None:
    point = os.environ.get("REL_HANG_AT")
    if point == "augmented":
        import harness.augmented as aug

        real, count = aug.save_png, [0]

        def slow_save(array, path):
            real(array, path)
            count[0] += 1
            if count[0] == 5:  # a few files of the set are on disk, the manifest is not
                _hang("augmented")

        aug.save_png = slow_save
    elif point == "mlflow":
        from mlflow import MlflowClient

        real_batch = MlflowClient.log_batch

        def hanging_batch(self, run_id, *a, **k):
            if "cell" in self.get_run(run_id).data.tags:  # a cell's run, not the grid's parent run
                _hang("mlflow")  # the MLflow run is created (RUNNING), nothing logged yet
            return real_batch(self, run_id, *a, **k)

        MlflowClient.log_batch = hanging_batch


if __name__ == "__main__":
    register()
    _install_hangs()
    from harness.cli import main

    main(sys.argv[1:], prog_name="bench")
