"""`supersimplenet`: anomalib's SuperSimpleNet in its supervised mode, fed the generated pairs.

Its frozen backbone's features are computed once per image and memoised
(`detectors.feature_cache.CachedModule` around anomalib's `UpscalingFeatureExtractor`,
saved under a key of the training images' bytes, backbone, weights, layers and input size),
so anomalib's own loop trains the adaptor and heads for hundreds of steps within a CPU
budget. Its own feature-level Perlin noise (`feature_noise`) is switchable, and always off
when the train set has no generated pairs: ``none`` means no anomaly of any kind.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import Field
from torch import nn

from detectors.anomalib_detector import AnomalibDetector, BackboneParams, ValidationParams, backbone_pre_processor
from detectors.backbones import extractor_without_download
from harness.core import DETECTORS, TrainSet
from detectors.feature_cache import CachedModule, FeatureCache, cache_key, weights_identity
from harness.core.io import file_sha256

log = logging.getLogger(__name__)


class NoFeatureNoise(nn.Module):
    """Stands in for SuperSimpleNet's `AnomalyGenerator`: features, masks and labels unchanged."""

    def forward(self, input_features, adapted_features, masks, labels):
        return input_features, adapted_features, masks, labels


@DETECTORS.register("supersimplenet")
class SuperSimpleNet(AnomalibDetector):
    """SuperSimpleNet (Rolih et al., ICPR 2024 / 2025), supervised: generated pairs are its labelled anomalies."""

    name = "supersimplenet"
    uses_anomalies: ClassVar[bool] = True
    #: the contract checks' size (harness.core.checks): seconds on a CPU
    tiny_params: ClassVar[dict[str, Any]] = {"input_size": 128, "max_steps": 2, "batch_size": 4}
    include_anomalous = True
    balanced = True

    class Params(BackboneParams, ValidationParams):
        input_size: int | None = Field(None, ge=128, description="≥ 128: its Perlin feature noise needs the room")
        perlin_threshold: float = Field(0.2, ge=0, le=1, description="threshold of its own feature-noise anomalies")
        feature_noise: bool = Field(True, description="its own Perlin feature-noise anomalies (off without generated pairs)")
        cache_features: bool = Field(True, description="compute the frozen backbone's features once per image")
        adapt_cls_features: bool = False
        epochs: int = Field(300, ge=1)
        max_steps: int = Field(-1, ge=-1)

    _restored: dict | None = None

    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # cached features: 200 steps (see docs/detectors.md for the curve); feature noise off so the
        # cell measures the generator, not SuperSimpleNet's own anomalies
        # cpu-quick max_steps: from the validation curve (benchmarks/detector_curves.py, docs/detectors.md)
        "cpu-quick": {"input_size": 128, "batch_size": 8, "epochs": 1000, "max_steps": 300, "feature_noise": False},
        # the paper: WideResNet-50 (.tv weights) layer2+3, 300 epochs, batch 32, its feature noise on
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
        if not p.feature_noise or not train.anomalous:
            if p.feature_noise:
                log.info("supersimplenet: no generated pairs, so no feature noise either (none = no anomalies)")
            module.model.anomaly_generator = NoFeatureNoise()
        if p.cache_features:
            memo = CachedModule(module.model.feature_extractor)
            if self._restored is not None:
                memo.restore(self._restored)
            module.model.feature_extractor = memo
        return module

    def _cache_key(self, train: TrainSet) -> str:
        p = self.params
        images = [file_sha256(x) for x in [*train.normal, *(img for img, _ in train.anomalous)]]
        return cache_key(images, backbone=p.backbone, layers=p.layers, input_size=self.input_size,
                         weights=weights_identity(p.backbone_weights),
                         extra={"module": "supersimplenet.UpscalingFeatureExtractor", "image_size": self.context.image_size})

    def fit(self, train: TrainSet) -> None:
        cache = FeatureCache(self.context.cache_dir) if self.params.cache_features else None
        key = self._cache_key(train) if cache else ""
        self._restored = cache.load(key) if cache else None
        super().fit(train)
        memo = self.feature_memo
        if cache is not None and memo is not None and (self._restored is None or memo.misses):
            cache.store(key, memo.state())  # before predict: test features are never stored
        self._restored = None

    @property
    def feature_memo(self) -> CachedModule | None:
        """The memo around the frozen extractor (hits/misses say what was computed), if caching."""
        m = self._module.model.feature_extractor if self._module is not None else None
        return m if isinstance(m, CachedModule) else None
