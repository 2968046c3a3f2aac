"""`patchcore`: anomalib's PatchCore, a one-class reference (ignores generated anomalies)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from detectors.anomalib_detector import AnomalibDetector, BackboneParams, backbone_pre_processor
from harness.core import DETECTORS, TrainSet


@DETECTORS.register("patchcore")
class PatchCore(AnomalibDetector):
    """PatchCore (Roth et al., CVPR 2022): nearest-neighbour patch memory bank on an ImageNet backbone."""

    name = "patchcore"
    uses_anomalies: ClassVar[bool] = False
    #: the contract checks' size (harness.core.checks): seconds on a CPU
    tiny_params: ClassVar[dict[str, Any]] = {"input_size": 64}

    class Params(BackboneParams):
        coreset_sampling_ratio: float = Field(0.1, gt=0, le=1)
        num_neighbors: int = Field(9, ge=1)

    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu-quick": {"input_size": 128, "coreset_sampling_ratio": 0.05, "batch_size": 16},
        # the paper: WideResNet-50 layer2+3 at 224 px, 10 % coreset (needs internet or backbone_weights)
        "gpu-full": {"backbone": "wide_resnet50_2", "layers": ["layer2", "layer3"], "input_size": 256,
                     "coreset_sampling_ratio": 0.1, "batch_size": 32},
    }

    def build_module(self, train: TrainSet):
        from anomalib.models import Patchcore

        from detectors.backbones import pretrained_extractor

        p = self.params
        module = Patchcore(
            backbone=p.backbone, layers=list(p.layers), pre_trained=False,
            coreset_sampling_ratio=p.coreset_sampling_ratio, num_neighbors=p.num_neighbors,
            pre_processor=backbone_pre_processor(p.backbone, self.input_size),
            post_processor=False, evaluator=False, visualizer=False,
        )
        pretrained_extractor(module.model.feature_extractor, p.backbone, p.backbone_weights)
        return module

    def fit(self, train: TrainSet) -> None:
        """The memory bank and its coreset: large buffers freed and reallocated (see the runtime)."""
        from harness.core.runtime import large_buffers_unmapped

        with large_buffers_unmapped():
            super().fit(train)
