"""`residual-seg`: a one-class map of the normals plus a light head that learns what to add.

Why: `frozen-seg` starts from nothing — with `none` (no anomaly to learn from) its decoder
reports nothing, far below PaDiM / PatchCore trained on the very same normals, so every
generator "helps" by a margin that says more about the decoder than about the generator. Here
the one-class statistics of the normals (`detectors.one_class_maps`: a Gaussian per feature
position as PaDiM, or a nearest-neighbour patch bank as PatchCore; by default both are fitted and
the one whose map scores the higher pixel AP on the validation fold is kept — PaDiM is the better
one-class detector on some categories, PatchCore on others) are computed on the same
cached frozen features `frozen-seg` uses (the nearest neighbour in the backbone's own units, as
PatchCore measures it), the maps standardised on the normals (z-score over every
position of their cross-fitted maps), and a head trained on normals + generated pairs adds
a residual:

    logit = a · z + b + head([features, z])        a = 1, b = `bias_init`, head's last layer 0 at step 0

At step 0 the map is a monotone function of the one-class map (same AP, same AUROC). The
validation fold is scored *before* the first step too, so early stopping can keep step 0: a
generator whose pairs teach the head nothing useful scores the one-class level, not below it.
The maps are returned as logits (no sigmoid: a saturated sigmoid would tie the strongest
anomalies and cost AP). The test split is never seen before `predict`.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from harness.core import DETECTORS, Predictions, TrainSet
from detectors.frozen_seg import FrozenEncoderSegmenter, LightDecoder, focal_dice_loss, image_scores
from detectors.one_class_maps import OneClassKind, OneClassMap, channel_subset, cross_fitted_maps, make_map
from harness.core.device import as_tensor, generator, randint
from harness.core.io import load_mask
from harness.core.pixel_metrics import average_precision

log = logging.getLogger(__name__)

OneClassChoice = Literal["auto", "gaussian", "knn"]


@dataclass
class OneClassModel:
    """One fitted statistic on a channel subset, and the standardisation of its map on the normals."""

    kind: OneClassKind
    channels: torch.Tensor
    stats: OneClassMap | None = None
    #: per-channel (mean, std) of the normals to undo the features' standardisation, or None to keep it
    units: tuple[torch.Tensor, torch.Tensor] | None = None
    mu: float = 0.0
    sd: float = 1.0

    def inputs(self, feats: torch.Tensor) -> torch.Tensor:
        """What the statistic sees of standardised features (N, C, h, w): the channel subset, back in
        the backbone's own units where `units` says so."""
        x = feats[:, self.channels]
        if self.units is not None:
            mean, std = self.units
            x = x * std[:, self.channels] + mean[:, self.channels]
        return x

    def raw(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) un-standardised map (the same ranking as `z`)."""
        return self.stats.score(self.inputs(feats))[:, None]

    def z(self, feats: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) map standardised by the normals' own (cross-fitted) maps."""
        return (self.raw(feats) - self.mu) / self.sd


class ResidualHead(nn.Module):
    """`LightDecoder` on [features, z] whose output is added to the scaled one-class map.

    The decoder's last layer starts at zero, so the untrained head adds nothing."""

    def __init__(self, channels: int, width: int, bias_init: float):
        super().__init__()
        self.decoder = LightDecoder(channels + 1, width)
        last = self.decoder.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.scale = nn.Parameter(torch.ones(()))
        self.bias = nn.Parameter(torch.full((), float(bias_init)))

    def forward(self, features: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """features (N, C, h, w), z (N, 1, h, w) → logits (N, 1, h, w)."""
        return self.scale * z + self.bias + self.decoder(torch.cat([features, z], dim=1))


@DETECTORS.register("residual-seg")
class ResidualSegmenter(FrozenEncoderSegmenter):
    """One-class map of the normals (PaDiM/PatchCore statistics on frozen-seg's cached features) + a learned residual."""

    name = "residual-seg"
    uses_anomalies: ClassVar[bool] = True
    #: the contract checks' size (harness.core.checks): seconds on a CPU
    tiny_params: ClassVar[dict[str, Any]] = {"max_steps": 4, "eval_every": 2, "batch_size": 4, "n_features": 16}

    class Params(FrozenEncoderSegmenter.Params):
        """frozen-seg's params (same backbone, layers, cache, training loop) + the one-class statistics."""

        one_class: OneClassChoice = Field(
            "auto", description="gaussian (PaDiM), knn (PatchCore), or auto: both fitted, the better step 0 on the "
                                "validation fold kept (gaussian when there is no validation fold)")
        n_features: int | None = Field(100, ge=1, description="random channel subset for the one-class statistics")
        cov_eps: float = Field(0.01, gt=0, description="gaussian: covariance regulariser (PaDiM's 0.01)")
        bank_fraction: float = Field(0.1, gt=0, le=1, description="knn: random share of normal patches in the bank")
        folds: int = Field(4, ge=2, description="the training normals' own maps come from statistics of the other folds")
        width: int = Field(16, ge=4, description="head channels")
        bias_init: float = Field(-3.0, description="logit offset at step 0 (normals start far below 0.5)")
        eval_every: int = Field(100, ge=1, description="validation every this many steps (and at step 0)")
        cache_features: bool = Field(True, description="store backbone features on disk (off: computed per image set)")

    # profile_defaults: frozen-seg's (the same backbone and budgets per profile)

    def __init__(self, params, context, *, seed: int):
        super().__init__(params, context, seed=seed)
        self._head: ResidualHead | None = None
        self._one_class: OneClassModel | None = None
        #: the validation fold's step-0 pixel AP of each candidate statistic (what `auto` chose on)
        self.one_class_scores: dict[str, float] = {}

    # -- the one-class part --------------------------------------------------------------
    def _z_map(self, feats: torch.Tensor) -> torch.Tensor:
        """Standardised one-class map (N, 1, h, w) of standardised features, from the full-normal statistics."""
        return self._one_class.z(feats)

    def _candidate(self, kind: OneClassKind, nf: torch.Tensor, channels: torch.Tensor) -> OneClassModel:
        """One statistic fitted on the standardised normals `nf`. The nearest neighbour measures
        distances in the backbone's own units, as PatchCore does (per-channel standardisation
        inflates the low-variance channels; raw units scored the higher validation P-AP on five of
        the six acceptance sets, docs/detectors.md); the Gaussian's Mahalanobis distance is the same
        either way up to its regulariser, and keeps the standardised features it was chosen on."""
        p = self.params
        model = OneClassModel(kind, channels, units=self._stats if kind == "knn" else None)
        model.stats = make_map(kind, eps=p.cov_eps, bank_fraction=p.bank_fraction, seed=self.seed).fit(model.inputs(nf))
        return model

    def _choose_one_class(self, nf: torch.Tensor, val) -> OneClassModel:
        """The statistic the head starts from: the one asked for, or under `auto` the one whose map
        (step 0) has the higher pixel AP on the validation fold — never the test split; ties and
        runs without a validation fold keep `gaussian` (PaDiM's, the cheaper)."""
        p = self.params
        channels = channel_subset(nf.shape[1], p.n_features, self.seed, self.device)
        if p.one_class != "auto":
            return self._candidate(p.one_class, nf, channels)
        if val is None:
            log.info("residual-seg: no validation fold to choose the one-class statistic on; using gaussian")
            return self._candidate("gaussian", nf, channels)
        best: OneClassModel | None = None
        for kind in ("gaussian", "knn"):
            model = self._candidate(kind, nf, channels)
            # the ranking of pixels is that of step 0 (an affine map of this one), so is its AP
            ap = self._map_ap(model.raw(val[0]), val[1])
            self.one_class_scores[kind] = ap
            if best is None or ap > self.one_class_scores[best.kind]:
                best = model
        log.info("residual-seg: one-class statistic %s (validation P-AP %s)", best.kind,
                 ", ".join(f"{k} {v:.3f}" for k, v in self.one_class_scores.items()))
        return best

    def _fit_one_class(self, nf: torch.Tensor, val) -> torch.Tensor:
        """Fits the statistics on every normal; returns the normals' own z-maps (cross-fitted)."""
        p = self.params
        model = self._choose_one_class(nf, val)
        own = cross_fitted_maps(model.inputs(nf), model.kind, folds=p.folds, eps=p.cov_eps,
                                bank_fraction=p.bank_fraction, seed=self.seed)
        mu, sd = own.mean(), own.std().clamp_min(1e-6)
        model.mu, model.sd = float(mu), float(sd)  # two host reads per fit
        self._one_class = model
        return ((own - mu) / sd)[:, None]

    def _map_ap(self, maps: torch.Tensor, masks: torch.Tensor) -> float:
        """Pixel AP of (N, 1, h, w) maps upsampled to the image size, as step 0 is scored."""
        size = self.context.image_size
        up = F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
        return average_precision(up, masks)

    # -- training ---------------------------------------------------------------------
    def fit(self, train: TrainSet) -> None:
        p = self.params
        size = self.context.image_size
        dev = self.device
        normal_paths = list(train.normal)
        nf = self.features(normal_paths)
        self._stats = (nf.mean(dim=(0, 2, 3), keepdim=True), nf.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6))
        nf = self._standardise(nf)
        val = self._validation_set(train)
        self.one_class_scores = {}
        nz = self._fit_one_class(nf, val)
        nmask = torch.zeros(len(normal_paths), 1, size, size, device=dev)
        if train.anomalous:
            gf = self._standardise(self.features([img for img, _ in train.anomalous]))
            gz = self._z_map(gf)
            gmask = as_tensor(np.stack([load_mask([m], size) for _, m in train.anomalous]), dev).float()[:, None]
        else:
            log.info("residual-seg: no generated anomalies; the head trains on normals only (no anomalous pixel)")
            gf = gz = gmask = None
        if val is not None:
            val = (val[0], self._z_map(val[0]), val[1])

        torch.manual_seed(self.seed)
        head = ResidualHead(nf.shape[1], p.width, p.bias_init).to(dev)  # initialised on the host: same weights anywhere
        opt = torch.optim.AdamW(head.decoder.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        opt.add_param_group({"params": [head.scale, head.bias], "weight_decay": 0.0})
        rng = generator(self.seed, dev)
        half = p.batch_size // 2 if gf is not None else 0
        self.training_curve = []
        best_state, best_ap, best_step, stale = None, -1.0, 0, 0
        if val is not None:  # step 0: the one-class map alone, a candidate like any other step
            best_ap = self._val_ap(head, val)
            best_state = copy.deepcopy(head.state_dict())
            self.training_curve.append({"step": 0, "val_pixel_ap": best_ap, "one_class_knn": float(self._one_class.kind == "knn"),
                                        **{f"val_pixel_ap_{k}": v for k, v in self.one_class_scores.items()}})
        pixels = torch.zeros((), dtype=torch.long, device=dev)
        running: list[torch.Tensor] = []
        from tqdm.auto import tqdm

        bar = tqdm(range(1, p.max_steps + 1), desc="residual-seg", unit="step", leave=False,
                   disable=not self.context.show_progress, dynamic_ncols=True)
        step = 0
        for step in bar:
            head.train()
            ni = randint(0, len(normal_paths), (p.batch_size - half,), rng, dev)
            feats, z, target = nf[ni], nz[ni], nmask[ni]
            if half:
                gi = randint(0, len(gf), (half,), rng, dev)
                feats, z, target = torch.cat([feats, gf[gi]]), torch.cat([z, gz[gi]]), torch.cat([target, gmask[gi]])
            pixels += target.sum().long()
            logits = F.interpolate(head(feats, z), size=(size, size), mode="bilinear", align_corners=False)
            loss = focal_dice_loss(logits, target, p.focal_gamma, p.dice_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running.append(loss.detach())
            if step % p.eval_every == 0 or step == p.max_steps:
                point = {"step": step, "train_loss": float(np.mean(torch.stack(running).tolist()))}
                running = []
                if val is not None:
                    point["val_pixel_ap"] = self._val_ap(head, val)
                    if point["val_pixel_ap"] > best_ap:
                        best_ap, best_step, stale = point["val_pixel_ap"], step, 0
                        best_state = copy.deepcopy(head.state_dict())
                    else:
                        stale += 1
                self.training_curve.append(point)
                if val is not None and p.patience and stale >= p.patience:
                    break
        bar.close()
        self.anomalous_training_pixels = int(pixels)
        if best_state is not None:
            head.load_state_dict(best_state)
        self.selected_step = best_step if best_state is not None else step
        head.eval()
        self._head = head

    def _val_ap(self, head: ResidualHead, val: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> float:
        return average_precision(self._logit_maps(head, val[0], val[1], host=False), val[2])

    @torch.no_grad()
    def _logit_maps(self, head: ResidualHead, feats: torch.Tensor, z: torch.Tensor, batch: int = 64,
                    host: bool = True) -> torch.Tensor:
        """(N, S, S) logit maps; on the host for `predict`, on the device for validation."""
        head.eval()
        size = self.context.image_size
        out = []
        for i in range(0, len(feats), batch):
            logits = F.interpolate(head(feats[i:i + batch], z[i:i + batch]), size=(size, size), mode="bilinear",
                                   align_corners=False)[:, 0]
            out.append(logits.cpu() if host else logits)
        return torch.cat(out)

    def predict(self, test: pd.DataFrame) -> Predictions:
        if self._head is None:
            raise RuntimeError("residual-seg: call fit() before predict()")
        feats = self._standardise(self.features(list(test["image_path"])))
        maps = self._logit_maps(self._head, feats, self._z_map(feats))
        scores = image_scores(maps, self.params.pool_size)
        return Predictions(image_scores=scores.numpy().astype(np.float64), anomaly_maps=maps.numpy().astype(np.float32))
