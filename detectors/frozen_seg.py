"""`frozen-seg`: a frozen pretrained encoder + a light trainable decoder, fitted on cached features.

Why our own and not an anomalib model: anomalib has no supervised segmenter on a frozen
backbone. SuperSimpleNet comes closest, but its head reads one upscaled feature map at
stride 4–8 and its training goes through anomalib's `Engine` with an image datamodule, so
each step still decodes and preprocesses images. Here the backbone's multi-scale features
of every training and validation image are computed once (`detectors.feature_cache`,
keyed by the images' bytes, backbone, weights, layers and input size) and the decoder is
trained in a plain loop on those tensors: a step costs milliseconds on 2 CPU cores, so
the budget can follow the loss instead of the clock.

Training: balanced batches (half real normal, half generated pairs; normals only when the
generator made none — ``none`` then means no anomalous pixel at all), focal + soft-Dice
loss on the upsampled logits. With a validation fold (real anomalies held out from the
generator, plus validation normals), the decoder is scored on it every `eval_every` steps
and the best step is kept (early stopping with `patience`); the curve is returned for
MLflow. The test split is never seen before `predict`.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from detectors.anomalib_detector import backbone_files, backbone_mean_std
from harness.core import DETECTORS, Detector, PluginParams, Predictions, RequiredFile, TrainSet
from detectors.feature_cache import FeatureCache, cache_key, weights_identity
from harness.core.device import as_tensor, generator, randint, to_numpy
from harness.core.io import file_sha256, load_image, load_mask
from harness.core.pixel_metrics import average_precision

log = logging.getLogger(__name__)


class FrozenExtractor:
    """An ImageNet backbone (offline weights, never random) returning named feature maps."""

    def __init__(self, backbone: str, layers: Sequence[str], backbone_weights: str | None, input_size: int,
                 device: str | torch.device = "cpu"):
        from anomalib.models.components.feature_extractors import TimmFeatureExtractor

        from detectors.backbones import pretrained_extractor

        self.backbone, self.layers, self.input_size = backbone, list(layers), input_size
        self.model = TimmFeatureExtractor(backbone=backbone, layers=list(layers), pre_trained=False)
        pretrained_extractor(self.model, backbone, backbone_weights)
        self.device = torch.device(device)
        self.model.eval().to(self.device)
        self.mean, self.std = backbone_mean_std(backbone)

    @torch.no_grad()
    def __call__(self, images: np.ndarray, batch_size: int = 32) -> dict[str, torch.Tensor]:
        """uint8 (N, H, W, 3) → {layer: float32 (N, C, h, w)}."""
        out: dict[str, list[torch.Tensor]] = {k: [] for k in self.layers}
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).to(self.device)
            x = x.permute(0, 3, 1, 2).float() / 255.0
            if x.shape[-1] != self.input_size:
                x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False,
                                  antialias=True)
            feats = self.model((x - mean) / std)
            for k in self.layers:
                out[k].append(feats[k].float().cpu())  # to the host: the feature cache is a file
        return {k: torch.cat(v) for k, v in out.items()}


class LightDecoder(nn.Module):
    """1×1 projection of the stacked feature levels, one 3×3 conv, a 1×1 → one logit map.

    The levels are upsampled to the finest one and stacked once, before training (they are
    frozen): a bilinear upsampling inside the step would cost more than the decoder itself
    on CPU (its backward pass), measured.
    """

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 1, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def stack_levels(levels: Sequence[torch.Tensor]) -> torch.Tensor:
    """Feature levels (N, C_i, h_i, w_i) → (N, ΣC_i, h_0, w_0) at the finest level's size."""
    size = max((f.shape[-2:] for f in levels), key=lambda s: s[0] * s[1])
    return torch.cat([f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=False)
                      for f in levels], dim=1)


def focal_dice_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float, dice_weight: float) -> torch.Tensor:
    """Binary focal loss over every pixel + soft Dice over the images that have anomalous pixels."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    pt = p * target + (1 - p) * (1 - target)
    loss = ((1 - pt) ** gamma * bce).mean()
    pos = target.flatten(1).sum(1) > 0
    if dice_weight > 0 and pos.any():
        pp, tt = p[pos].flatten(1), target[pos].flatten(1)
        dice = 1 - (2 * (pp * tt).sum(1) + 1) / (pp.sum(1) + tt.sum(1) + 1)
        loss = loss + dice_weight * dice.mean()
    return loss


def image_scores(maps: torch.Tensor, pool: int) -> torch.Tensor:
    """Max of the `pool`²-average-pooled map (the AnomalyDiffusion downstream rule)."""
    pooled = F.avg_pool2d(maps[:, None], pool, stride=1, padding=pool // 2, count_include_pad=False)
    return pooled.flatten(1).amax(1)


@DETECTORS.register("frozen-seg")
class FrozenEncoderSegmenter(Detector):
    """Frozen ImageNet encoder (features cached once) + light decoder trained on normals + generated pairs."""

    name = "frozen-seg"
    uses_anomalies: ClassVar[bool] = True
    #: the contract checks' size (harness.core.checks): seconds on a CPU
    tiny_params: ClassVar[dict[str, Any]] = {"max_steps": 4, "eval_every": 5, "batch_size": 4}

    class Params(PluginParams):
        backbone: str = Field("tf_efficientnet_lite0", description="timm model name (frozen)")
        layers: list[str] = Field(default_factory=lambda: ["blocks.1", "blocks.2", "blocks.4"])
        backbone_weights: str | None = Field(None, description="local timm-named state dict; else packaged/downloaded")
        input_size: int | None = Field(None, ge=32, description="backbone input side; None = the run's image_size")
        width: int = Field(16, ge=4, description="decoder channels")
        batch_size: int = Field(16, ge=2, description="half normal, half generated when there are generated pairs")
        max_steps: int = Field(1000, ge=1)
        lr: float = Field(1e-3, gt=0)
        weight_decay: float = Field(1e-4, ge=0)
        focal_gamma: float = Field(2.0, ge=0)
        dice_weight: float = Field(1.0, ge=0)
        eval_every: int = Field(100, ge=1, description="validation every this many steps (if there is a fold)")
        patience: int = Field(4, ge=0, description="stop after this many evaluations without a better val pixel AP; 0 = never")
        pool_size: int = Field(9, ge=1, description="image score = max of the pool_size² average-pooled map")
        cache_features: bool = Field(True, description="backbone features once per image (off: every step, for benchmarks)")

    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "cpu-quick": {},
        "gpu-full": {"backbone": "wide_resnet50_2.tv_in1k", "layers": ["layer2", "layer3"],
                     "input_size": 256, "width": 64, "batch_size": 32, "max_steps": 4000, "pool_size": 21},
    }

    @classmethod
    def required_files(cls, params: PluginParams) -> list[RequiredFile]:
        """The frozen ImageNet backbone (and the local weights given for it)."""
        return backbone_files(params)

    def __init__(self, params, context, *, seed: int):
        super().__init__(params, context, seed=seed)
        self._extractor: FrozenExtractor | None = None
        self._decoder: LightDecoder | None = None
        self._stats: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None
        self.cache = FeatureCache(context.cache_dir)
        self.anomalous_training_pixels = 0  # what the training targets held (tests: `none` → 0)
        self.selected_step = 0

    # -- features ---------------------------------------------------------------------
    @property
    def input_size(self) -> int:
        return self.params.input_size or self.context.image_size

    @property
    def device(self) -> torch.device:
        return self.context.device

    def extractor(self) -> FrozenExtractor:
        if self._extractor is None:
            p = self.params
            self._extractor = FrozenExtractor(p.backbone, p.layers, p.backbone_weights, self.input_size, self.device)
        return self._extractor

    def features(self, paths: Sequence[Path | str]) -> torch.Tensor:
        """Stacked (N, C, h, w) features of the images at `paths` (cached per layer on disk), on the
        device: the decoder's steps index them there, with no host→device copy per step."""
        p = self.params
        key = cache_key([file_sha256(x) for x in paths], backbone=p.backbone, layers=p.layers,
                        input_size=self.input_size, weights=weights_identity(p.backbone_weights),
                        extra={"image_size": self.context.image_size})
        size = self.context.image_size

        def compute() -> dict[str, torch.Tensor]:
            images = np.stack([load_image(x, size) for x in paths])
            return self.extractor()(images)

        def complete(value) -> bool:  # one row per image for every layer, or it is recomputed
            return isinstance(value, dict) and all(
                torch.is_tensor(value.get(k)) and value[k].ndim == 4 and len(value[k]) == len(paths) for k in p.layers)

        feats = self.cache.features(key, compute, complete) if p.cache_features else compute()
        return stack_levels([feats[k].to(self.device) for k in p.layers])

    def _batch_features(self, images: np.ndarray, index: torch.Tensor) -> torch.Tensor:
        """Without the cache: the batch's features straight from the backbone (what caching saves)."""
        feats = self.extractor()(images[to_numpy(index)])
        return self._standardise(stack_levels([feats[k].to(self.device) for k in self.params.layers]))

    def _standardise(self, feats: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats
        return (feats - mean) / std

    # -- training ---------------------------------------------------------------------
    def fit(self, train: TrainSet) -> None:
        p = self.params
        size = self.context.image_size
        normal_paths = list(train.normal)
        gen_paths = [img for img, _ in train.anomalous]
        nf = self.features(normal_paths)
        # channel statistics of the real normal features: every level enters the decoder on one scale
        self._stats = (nf.mean(dim=(0, 2, 3), keepdim=True), nf.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6))
        nf = self._standardise(nf)
        raw_normals = None if p.cache_features else np.stack([load_image(x, size) for x in normal_paths])
        raw_gen = None if p.cache_features or not gen_paths else np.stack([load_image(x, size) for x in gen_paths])
        dev = self.device
        nmask = torch.zeros(len(normal_paths), 1, size, size, device=dev)
        if gen_paths:
            gf = self._standardise(self.features(gen_paths))
            gmask = as_tensor(np.stack([load_mask([m], size) for _, m in train.anomalous]), dev).float()[:, None]
        else:
            log.info("frozen-seg: no generated anomalies; training on normals only (no anomalous pixel)")
            gf, gmask = None, None
        val = self._validation_set(train)

        torch.manual_seed(self.seed)
        decoder = LightDecoder(nf.shape[1], p.width).to(dev)  # initialised on the host: the same weights anywhere
        opt = torch.optim.AdamW(decoder.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        rng = generator(self.seed, dev)  # batch indices drawn where the features are
        half = p.batch_size // 2 if gf is not None else 0
        best_state, best_ap, best_step, stale = None, -1.0, 0, 0
        self.training_curve = []
        pixels = torch.zeros((), dtype=torch.long, device=dev)  # read once at the end: no wait per step
        running: list[torch.Tensor] = []  # the steps' losses on the device, read at each evaluation
        from tqdm.auto import tqdm

        bar = tqdm(range(1, p.max_steps + 1), desc="frozen-seg", unit="step", leave=False,
                   disable=not self.context.show_progress, dynamic_ncols=True)
        for step in bar:
            decoder.train()
            ni = randint(0, len(normal_paths), (p.batch_size - half,), rng, dev)
            feats, target = (nf[ni] if raw_normals is None else self._batch_features(raw_normals, ni)), nmask[ni]
            if half:
                gi = randint(0, len(gen_paths), (half,), rng, dev)
                gfeat = gf[gi] if raw_gen is None else self._batch_features(raw_gen, gi)
                feats, target = torch.cat([feats, gfeat]), torch.cat([target, gmask[gi]])
            pixels += target.sum().long()
            logits = F.interpolate(decoder(feats), size=(size, size), mode="bilinear", align_corners=False)
            loss = focal_dice_loss(logits, target, p.focal_gamma, p.dice_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running.append(loss.detach())
            if step % p.eval_every == 0 or step == p.max_steps:
                point = {"step": step, "train_loss": float(np.mean(torch.stack(running).tolist()))}
                running = []
                if val is not None:  # scored where the maps are: no copy of every pixel to the host
                    maps = self._maps(decoder, val[0], host=False)
                    point["val_pixel_ap"] = average_precision(maps, val[1])
                    point["val_loss"] = float(focal_dice_loss(torch.logit(maps[:, None].clamp(1e-6, 1 - 1e-6)),
                                                              val[1].float()[:, None], p.focal_gamma, p.dice_weight))
                    if point["val_pixel_ap"] > best_ap:
                        best_ap, best_step, stale = point["val_pixel_ap"], step, 0
                        best_state = copy.deepcopy(decoder.state_dict())
                    else:
                        stale += 1
                self.training_curve.append(point)
                bar.set_postfix(loss=f"{point['train_loss']:.4f}", **({"val_ap": f"{point['val_pixel_ap']:.3f}"} if val else {}))
                if val is not None and p.patience and stale >= p.patience:
                    break
        bar.close()
        self.anomalous_training_pixels = int(pixels)
        if best_state is not None:
            decoder.load_state_dict(best_state)
        self.selected_step = best_step if best_state is not None else step
        decoder.eval()
        self._decoder = decoder

    def _validation_set(self, train: TrainSet) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Features and (bool) masks of the validation fold, both on the device, or None without
        real validation anomalies."""
        table = train.validation
        if table is None or not len(table) or not (table["label"] == 1).any():
            return None
        size = self.context.image_size
        feats = self._standardise(self.features(list(table["image_path"])))
        masks = np.stack([load_mask(list(r.mask_paths), size) for r in table.itertuples()])
        return feats, as_tensor(masks, self.device)

    @torch.no_grad()
    def _maps(self, decoder: LightDecoder, feats: torch.Tensor, batch: int = 64, host: bool = True) -> torch.Tensor:
        """(N, S, S) probability maps; on the host for `predict`, on the device for validation."""
        decoder.eval()
        size = self.context.image_size
        out = []
        for i in range(0, len(feats), batch):
            logits = decoder(feats[i:i + batch])
            maps = torch.sigmoid(F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=False))
            out.append(maps[:, 0].cpu() if host else maps[:, 0])
        return torch.cat(out)

    def predict(self, test: pd.DataFrame) -> Predictions:
        if self._decoder is None:
            raise RuntimeError("frozen-seg: call fit() before predict()")
        feats = self._standardise(self.features(list(test["image_path"])))
        maps = self._maps(self._decoder, feats)
        scores = image_scores(maps, self.params.pool_size)
        return Predictions(image_scores=scores.numpy().astype(np.float64), anomaly_maps=maps.numpy().astype(np.float32))
