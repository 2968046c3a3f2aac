"""`supervised-seg`: the papers' downstream U-Net, trained on normals + generated pairs."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pandas as pd
from pydantic import Field

from harness.core import DETECTORS, Detector, Predictions, TrainSet
from detectors.anomalib_detector import ValidationParams

log = logging.getLogger(__name__)


@DETECTORS.register("supervised-seg")
class SupervisedSegmentation(Detector):
    """DRAEM's discriminative U-Net + focal loss on normal and generated images (AnomalyDiffusion protocol)."""

    name = "supervised-seg"
    uses_anomalies: ClassVar[bool] = True
    #: the contract checks' size (harness.core.checks): seconds on a CPU
    tiny_params: ClassVar[dict[str, Any]] = {"base_width": 8, "input_size": 32, "batch_size": 4, "max_steps": 3}

    class Params(ValidationParams):
        base_width: int = Field(64, ge=4, description="U-Net base channels (DRAEM: 64)")
        input_size: int | None = Field(None, ge=32, description="model input side; None = the run's image_size")
        batch_size: int = Field(8, ge=2, description="half normal, half generated when there are generated pairs")
        epochs: int = Field(200, ge=1)
        max_steps: int = Field(-1, ge=-1, description="optimizer steps cap; -1 = epochs decide")
        lr: float = Field(1e-4, gt=0)
        focal_gamma: float = Field(2.0, ge=0)
        dice_weight: float = Field(0.0, ge=0, description="weight of an extra soft-Dice term (0 = focal only)")
        pool_size: int = Field(21, ge=1, description="image score = max of the pool_size² average-pooled map")
        balanced: bool = Field(True, description="half normal, half generated per batch")

    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # cpu-quick max_steps: from the validation curve (benchmarks/detector_curves.py, docs/detectors.md)
        "cpu-quick": {"base_width": 16, "input_size": 128, "batch_size": 8, "epochs": 100, "max_steps": 100, "lr": 1e-3},
        "gpu-full": {"base_width": 64, "input_size": 256, "batch_size": 8, "epochs": 200, "max_steps": -1},
    }

    def __init__(self, params, context, *, seed: int):
        super().__init__(params, context, seed=seed)
        self._engine = None
        self._module = None
        self._train: TrainSet | None = None

    def fit(self, train: TrainSet) -> None:
        from detectors._engine import fit_module
        from detectors._seg_module import SegmentationModule

        import lightning

        p = self.params
        if not train.anomalous:
            log.warning("supervised-seg: no generated anomalies; training on normals only (all-normal targets)")
        lightning.seed_everything(self.seed, workers=True, verbose=False)  # seeds the weight init too
        self._module = SegmentationModule(
            base_width=p.base_width, input_size=p.input_size or self.context.image_size, lr=p.lr,
            focal_gamma=p.focal_gamma, dice_weight=p.dice_weight, pool_size=p.pool_size,
        )
        self._engine, curve = fit_module(
            self._module, train, self.context, seed=self.seed, batch_size=p.batch_size,
            include_anomalous=True, balanced=p.balanced, max_epochs=p.epochs, max_steps=p.max_steps,
            eval_every=p.eval_every, patience=p.patience,
        )
        if curve is not None:
            self.training_curve = curve.curve
        self._train = train

    def predict(self, test: pd.DataFrame) -> Predictions:
        from detectors._engine import predict_module

        if self._engine is None or self._train is None:
            raise RuntimeError("supervised-seg: call fit() before predict()")
        return predict_module(self._engine, self._module, self._train, test, self.context, seed=self.seed)
