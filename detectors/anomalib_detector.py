"""The base of every detector trained by anomalib's Engine (PatchCore, PaDiM, DRAEM, GLASS, SuperSimpleNet).

They all: take an ImageNet backbone (offline weights via `detectors.backbones`, never
random features), normalise inputs the way that backbone was trained, train through
anomalib's `Engine`, and return raw maps (``post_processor=False``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import Field

from harness.core import Detector, PluginParams, Predictions, RequiredFile, TrainSet


class BackboneParams(PluginParams):
    backbone: str = Field("tf_efficientnet_lite0", description="timm model name")
    layers: list[str] = Field(default_factory=lambda: ["blocks.2", "blocks.4"])
    backbone_weights: str | None = Field(None, description="local timm-named state dict; else packaged/downloaded")
    input_size: int | None = Field(None, ge=32, description="model input side; None = the run's image_size")
    batch_size: int = Field(8, ge=1)


def backbone_files(params: Any) -> list[RequiredFile]:
    """The ImageNet backbone a detector's params name (and the local weights given for it), for `bench doctor`."""
    return [RequiredFile("backbone", params.backbone, "timm-backbone", weights=params.backbone_weights)]


class ValidationParams(PluginParams):
    """How a trained detector uses the validation fold (real anomalies no generator saw; never test)."""

    eval_every: int = Field(50, ge=0, description="val pixel AP every this many steps, best weights kept; 0 = off")
    patience: int = Field(4, ge=0, description="stop after this many evaluations without a better one; 0 = never")


def backbone_mean_std(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The input statistics the backbone was trained with (timm's pretrained config)."""
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(backbone)
        return tuple(cfg.mean), tuple(cfg.std)
    except Exception:  # noqa: BLE001 — unknown cfg: ImageNet statistics
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def backbone_pre_processor(backbone: str, input_size: int):
    """Resize + the backbone's own normalisation."""
    from anomalib.pre_processing import PreProcessor
    from torchvision.transforms.v2 import Compose, Normalize, Resize

    mean, std = backbone_mean_std(backbone)
    return PreProcessor(transform=Compose([
        Resize((input_size, input_size), antialias=True), Normalize(mean=list(mean), std=list(std)),
    ]))


class AnomalibDetector(Detector):
    """A detector whose model is an anomalib module trained by anomalib's Engine."""

    include_anomalous: bool = False
    balanced: bool = False

    def __init__(self, params: dict[str, Any] | None, context, *, seed: int):
        super().__init__(params, context, seed=seed)
        self._engine = None
        self._module = None
        self._train: TrainSet | None = None

    @classmethod
    def required_files(cls, params: PluginParams) -> list[RequiredFile]:
        """The backbone, for the detectors whose params name one (`BackboneParams`)."""
        return backbone_files(params) if isinstance(params, BackboneParams) else []

    @property
    def input_size(self) -> int:
        return getattr(self.params, "input_size", None) or self.context.image_size

    def build_module(self, train: TrainSet):  # pragma: no cover - abstract
        raise NotImplementedError

    def trainer_kwargs(self) -> dict[str, Any]:
        return {}

    def fit(self, train: TrainSet) -> None:
        import lightning

        from detectors._engine import fit_module

        lightning.seed_everything(self.seed, workers=True, verbose=False)
        self._module = self.build_module(train)
        self._engine, curve = fit_module(
            self._module, train, self.context, seed=self.seed, batch_size=self.params.batch_size,
            include_anomalous=self.include_anomalous and self.uses_anomalies, balanced=self.balanced,
            eval_every=getattr(self.params, "eval_every", 0), patience=getattr(self.params, "patience", 0),
            **self.trainer_kwargs(),
        )
        if curve is not None:
            self.training_curve = curve.curve
        self._train = train

    def predict(self, test: pd.DataFrame) -> Predictions:
        from detectors._engine import predict_module

        if self._engine is None or self._train is None:
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        return predict_module(self._engine, self._module, self._train, test, self.context, seed=self.seed)
