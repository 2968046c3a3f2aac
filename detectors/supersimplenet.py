"""`supersimplenet`: anomalib's SuperSimpleNet in its supervised mode, fed the generated pairs."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from detectors._one_class import AnomalibDetector, BackboneParams, backbone_pre_processor
from detectors.backbones import extractor_without_download
from detectors.base import TrainSet
from harness.registry import DETECTORS


@DETECTORS.register("supersimplenet")
class SuperSimpleNet(AnomalibDetector):
    """SuperSimpleNet (Rolih et al., ICPR 2024 / 2025), supervised: generated pairs are its labelled anomalies."""

    name = "supersimplenet"
    uses_anomalies: ClassVar[bool] = True
    include_anomalous = True
    balanced = True

    class Params(BackboneParams):
        input_size: int | None = Field(None, ge=128, description="≥ 128: its Perlin feature noise needs the room")
        perlin_threshold: float = Field(0.2, ge=0, le=1, description="its own feature-noise anomalies (kept)")
        adapt_cls_features: bool = False
        epochs: int = Field(300, ge=1)
        max_steps: int = Field(-1, ge=-1)

    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu-quick": {"input_size": 128, "batch_size": 8, "epochs": 100, "max_steps": 40},
        # the paper: WideResNet-50 (.tv weights) layer2+3, 300 epochs, batch 32
        "gpu-full": {"backbone": "wide_resnet50_2.tv_in1k", "layers": ["layer2", "layer3"], "input_size": 256,
                     "batch_size": 32, "epochs": 300, "max_steps": -1},
    }

    def trainer_kwargs(self) -> dict[str, Any]:
        return {"max_epochs": self.params.epochs, "max_steps": self.params.max_steps}

    def build_module(self, train: TrainSet):
        from anomalib.models import Supersimplenet
        from anomalib.models.image.supersimplenet import torch_model

        from detectors.backbones import pretrained_extractor

        p = self.params
        with extractor_without_download(torch_model):
            module = Supersimplenet(
                perlin_threshold=p.perlin_threshold, backbone=p.backbone, layers=list(p.layers), supervised=True,
                adapt_cls_features=p.adapt_cls_features,
                pre_processor=backbone_pre_processor(p.backbone, self.input_size),
                post_processor=False, evaluator=False, visualizer=False,
            )
        pretrained_extractor(module.model.feature_extractor.feature_extractor, p.backbone, p.backbone_weights)
        return module
