"""anomalib's GLASS with its Perlin augmentor replaced by the generator's pairs.

Private module (imported lazily by `detectors.glass`). GLASS trains on a normal batch
``img`` and its locally augmented copy ``aug`` with the anomaly mask; here ``aug`` is a
batch of generated images with their masks (same size as the normal half of the balanced
batch). The feature-space parts of GLASS (global Gaussian-noise anomalies, gradient
ascent, the normal-feature centre) are kept; the centre is computed on the normal
images only, pre-processed like the training batches.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
from anomalib.data import Batch
from anomalib.models import Glass
from torch import nn


class StoredPairs(nn.Module):
    """Stands in for GLASS's augmentor: returns the generated half of the current batch."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, img_raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pairs is None or self.pairs[0].shape[0] != img_raw.shape[0]:
            raise RuntimeError("glass: no generated pairs staged for this batch")
        return self.pairs


class _NormalBatches:
    """The train loader's normal images, pre-processed like training batches (for the centre)."""

    def __init__(self, loader, transform) -> None:
        self.loader, self.transform = loader, transform

    def __iter__(self):
        for batch in self.loader:
            images = batch.image[batch.gt_label == 0]
            if len(images):
                yield SimpleNamespace(image=self.transform(images) if self.transform else images)


class PairsGlass(Glass):
    """GLASS fed (normal, generated) halves of balanced batches."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(anomaly_source_path=None, **kwargs)
        self.model.augmentor = StoredPairs()

    def on_train_epoch_start(self) -> None:
        transform = self.pre_processor.transform if self.pre_processor else None
        self.model.calculate_center(_NormalBatches(self.trainer.train_dataloader, transform), self.device)

    def training_step(self, batch: Batch, batch_idx: int):
        normal = batch.gt_label == 0
        generated = ~normal
        n = int(min(normal.sum(), generated.sum()))
        if n == 0:
            raise RuntimeError("glass needs generated pairs in every training batch (balanced batches)")
        mean, std = self.model._img_mean, self.model._img_std
        gen_raw = batch.image[generated][:n] * std + mean
        gen_mask = batch.gt_mask[generated][:n].float()
        if gen_mask.ndim == 3:
            gen_mask = gen_mask.unsqueeze(1)
        self.model.augmentor.pairs = (gen_raw, gen_mask)
        try:
            return super().training_step(SimpleNamespace(image=batch.image[normal][:n]), batch_idx)
        finally:
            self.model.augmentor.pairs = None
