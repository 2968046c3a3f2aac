"""`glass`: anomalib's GLASS with its Perlin augmentor replaced by the generator's pairs."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from detectors.anomalib_detector import AnomalibDetector, BackboneParams, ValidationParams, backbone_pre_processor
from detectors.backbones import extractor_without_download
from harness.core import DETECTORS, TrainSet


@DETECTORS.register("glass")
class GlassDetector(AnomalibDetector):
    """GLASS (Chen et al., ECCV 2024): global feature noise + local anomalies, here the generated pairs."""

    name = "glass"
    uses_anomalies: ClassVar[bool] = True
    #: the contract checks' size (harness.core.checks): seconds on a CPU
    tiny_params: ClassVar[dict[str, Any]] = {"input_size": 64, "batch_size": 4, "embed_dim": 32,
                                             "discriminator_hidden": 32, "step": 1, "max_steps": 2}
    include_anomalous = True
    balanced = True

    class Params(BackboneParams, ValidationParams):
        embed_dim: int = Field(1536, ge=8, description="pretrain and target embedding size (paper: 1536)")
        discriminator_hidden: int = Field(1024, ge=8)
        step: int = Field(20, ge=0, description="gradient-ascent steps on the noisy features")
        learning_rate: float = Field(1e-4, gt=0)
        epochs: int = Field(640, ge=1)
        max_steps: int = Field(-1, ge=-1)

    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # cpu-quick max_steps: from the validation curve (benchmarks/detector_curves.py, docs/detectors.md)
        "cpu-quick": {"input_size": 128, "batch_size": 8, "embed_dim": 256, "discriminator_hidden": 256,
                      "step": 5, "epochs": 100, "max_steps": 400},
        # the paper: WideResNet-50 layer2+3, 288 px, 1536-d embeddings
        "gpu-full": {"backbone": "wide_resnet50_2", "layers": ["layer2", "layer3"], "input_size": 288,
                     "batch_size": 8, "embed_dim": 1536, "discriminator_hidden": 1024, "step": 20,
                     "epochs": 640, "max_steps": -1},
    }

    def trainer_kwargs(self) -> dict[str, Any]:
        return {"max_epochs": self.params.epochs, "max_steps": self.params.max_steps}

    def fit(self, train: TrainSet) -> None:
        if not train.anomalous:
            raise ValueError("glass: its local anomalies come from the generator; this train set has no generated pairs")
        super().fit(train)

    def build_module(self, train: TrainSet):
        from anomalib.models.image.glass import torch_model

        from detectors._glass_module import PairsGlass
        from detectors.backbones import pretrained_extractor

        p = self.params
        with extractor_without_download(torch_model):
            module = PairsGlass(
                input_shape=(self.input_size, self.input_size), backbone=p.backbone, layers=list(p.layers),
                pretrain_embed_dim=p.embed_dim, target_embed_dim=p.embed_dim,
                discriminator_hidden=p.discriminator_hidden, step=p.step, learning_rate=p.learning_rate,
                pre_trained=True, pre_processor=backbone_pre_processor(p.backbone, self.input_size),
                post_processor=False, evaluator=False, visualizer=False,
            )
        pretrained_extractor(module.model.forward_modules["feature_aggregator"], p.backbone, p.backbone_weights)
        return module
