"""`padim`: anomalib's PaDiM, a one-class reference (ignores generated anomalies)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from detectors.anomalib_detector import AnomalibDetector, BackboneParams, backbone_pre_processor
from harness.core import DETECTORS, TrainSet


@DETECTORS.register("padim")
class Padim(AnomalibDetector):
    """PaDiM (Defard et al., ICPR 2021): per-position Gaussians of ImageNet backbone features."""

    name = "padim"
    uses_anomalies: ClassVar[bool] = False
    #: the contract checks' size (harness.core.checks): seconds on a CPU
    tiny_params: ClassVar[dict[str, Any]] = {"input_size": 64}

    class Params(BackboneParams):
        layers: list[str] = Field(default_factory=lambda: ["blocks.1", "blocks.2", "blocks.4"])
        n_features: int | None = Field(100, ge=1, description="random channel subset (paper: 100 for ResNet-18)")

    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu-quick": {"input_size": 128, "batch_size": 16},
        # the paper's ResNet-18 layer1-3 at 256 px (needs internet or backbone_weights)
        "gpu-full": {"backbone": "resnet18", "layers": ["layer1", "layer2", "layer3"], "input_size": 256,
                     "n_features": 100, "batch_size": 32},
    }

    def build_module(self, train: TrainSet):
        from anomalib.models import Padim as AnomalibPadim

        from detectors.backbones import pretrained_extractor

        p = self.params
        module = AnomalibPadim(
            backbone=p.backbone, layers=list(p.layers), pre_trained=False, n_features=p.n_features,
            pre_processor=backbone_pre_processor(p.backbone, self.input_size),
            post_processor=False, evaluator=False, visualizer=False,
        )
        pretrained_extractor(module.model.feature_extractor, p.backbone, p.backbone_weights)
        return module
