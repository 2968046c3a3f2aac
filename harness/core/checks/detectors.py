"""The detector checks: the contract `harness.core.detector` states, on a tiny on-disk set.

Raw predictions row-aligned with the test table (image scores (N,), maps (N, H, W) float32 at the
run's image size, finite, not constant), the same numbers for the same seed, predict-before-fit an
error, one-class detectors (`uses_anomalies` False) unmoved by generated pairs, and on every
accelerator (the fake one always, a real GPU where present) the CPU's numbers with the work done on
the device. Each plug-in's own tests keep what only it does (its learning, its weights, its params).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.checks import Check, check_declarations
from harness.core.checks.generators import accelerators, on_device
from harness.core.detector import Detector, Predictions, TrainSet
from harness.core.plugin import RunContext
from harness.core.toydata import make_tiny_set

SIZE = 48  # pixels: the run's image size the maps must have


class DetectorBench:
    """One detector class with its params, the tiny on-disk set, and the seed-0 CPU predictions the
    checks share."""

    def __init__(self, cls: type[Detector], params: dict[str, Any], work_dir: Path):
        self.cls, self.params, self.work_dir = cls, params, work_dir
        self.root = work_dir  # the set and the shared fit stay here when later checks change work_dir
        self.train, self.test = make_tiny_set(work_dir / "tiny-set")
        self._predicted: Predictions | None = None

    def make(self, work: Path, *, device: Any = "cpu", cache_dir: Path | None = None, seed: int = 0) -> Detector:
        ctx = RunContext("tiny", SIZE, "cpu-quick", device, work, show_progress=False,
                         cache_dir=cache_dir if cache_dir is not None else work / "features")
        return self.cls(self.params, ctx, seed=seed)

    def fit_predict(self, work: Path, train: TrainSet | None = None, test: pd.DataFrame | None = None,
                    **kw: Any) -> Predictions:
        det = self.make(work, **kw)
        det.fit(self.train if train is None else train)
        return det.predict(self.test if test is None else test)

    @property
    def predicted(self) -> Predictions:
        if self._predicted is None:
            self._predicted = self.fit_predict(self.root / "a")
        return self._predicted


# ----------------------------------------------------------------------------- the checks


def declarations(bench: DetectorBench) -> None:
    check_declarations(bench.cls, bench.params, [c.name for c in checks_for(bench.cls)])
    assert isinstance(bench.cls.uses_anomalies, bool)


def predictions_are_raw_row_aligned_maps(bench: DetectorBench) -> None:
    preds, n = bench.predicted, len(bench.test)
    scores, maps = np.asarray(preds.image_scores), preds.anomaly_maps
    assert scores.shape == (n,) and np.isfinite(scores).all(), f"image scores {scores.shape}, want ({n},), finite"
    assert maps.shape == (n, SIZE, SIZE) and maps.dtype == np.float32 and np.isfinite(maps).all(), \
        f"maps {maps.shape} {maps.dtype}, want ({n}, {SIZE}, {SIZE}) float32, finite"
    assert maps.std() > 0, "a constant map scores nothing"


def same_seed_same_numbers(bench: DetectorBench) -> None:
    again = bench.fit_predict(bench.work_dir / "b")
    np.testing.assert_array_equal(bench.predicted.image_scores, again.image_scores)
    np.testing.assert_array_equal(bench.predicted.anomaly_maps, again.anomaly_maps)


def one_class_detectors_ignore_generated_pairs(bench: DetectorBench) -> None:
    normals_only = bench.fit_predict(bench.work_dir / "c", TrainSet(normal=bench.train.normal))
    np.testing.assert_array_equal(bench.predicted.anomaly_maps, normals_only.anomaly_maps)


def predict_before_fit_is_an_error(bench: DetectorBench) -> None:
    det = bench.cls(bench.params, RunContext("tiny", SIZE, work_dir=bench.work_dir, show_progress=False), seed=0)
    try:
        det.predict(bench.test)
    except RuntimeError as exc:
        assert "fit" in str(exc), f"predict before fit raised {exc!r}; say that fit comes first"
        return
    raise AssertionError("predict before fit returned instead of raising RuntimeError")


def _device_contract(bench: DetectorBench, device: str) -> None:
    """On the fake GPU a detector computes the CPU's numbers (the same kernels) and its work runs
    on the device; on a GPU its predictions keep the contract."""
    from harness.core import fakegpu

    on_cpu, n = bench.predicted, len(bench.test)
    before = fakegpu.ops_run
    with on_device(device) as dev:
        det = bench.make(bench.work_dir / device, device=dev, cache_dir=bench.work_dir / f"features-{device}")
        det.fit(bench.train)
        preds = det.predict(bench.test)
    assert preds.anomaly_maps.shape == (n, SIZE, SIZE) and np.isfinite(preds.anomaly_maps).all()
    if device == "fakegpu":
        assert fakegpu.ops_run > before, f"{bench.cls.name} did none of its work on the device"
        # the CPU's numbers up to float rounding: alone every detector matches bit for bit, but after
        # other tests residual-seg's Gaussian statistics came out ~2e-5 apart (kernel choice); a device
        # mistake raises, it does not round
        np.testing.assert_allclose(preds.image_scores, on_cpu.image_scores, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(preds.anomaly_maps, on_cpu.anomaly_maps, rtol=1e-4, atol=1e-4)


def _on(device: str) -> Any:
    def run(bench: DetectorBench) -> None:
        _device_contract(bench, device)

    return run


# ----------------------------------------------------------------------------- selection


def checks_for(cls: type[Detector]) -> list[Check]:
    """The checks `cls` gets, picked by its declarations."""
    make = DetectorBench
    out = [Check("declarations", declarations, make),
           Check("predictions_are_raw_row_aligned_maps", predictions_are_raw_row_aligned_maps, make, slow=True),
           Check("same_seed_same_numbers", same_seed_same_numbers, make, slow=True)]
    if not cls.uses_anomalies:
        out.append(Check("one_class_detectors_ignore_generated_pairs", one_class_detectors_ignore_generated_pairs,
                         make, slow=True))
    out += [Check(f"fit_predict_on_{device}", _on(device), make, slow=True) for device in accelerators(cls)]
    out.append(Check("predict_before_fit_is_an_error", predict_before_fit_is_an_error, make))
    return out
