"""The downstream segmentation model of the anomaly-generation papers, as an anomalib module.

AnomalyDiffusion (Hu et al., AAAI 2024) and its followers measure a generator by training
DRAEM's discriminative U-Net on normal + generated images with masks: focal loss, Adam
1e-4, image score = max of the 21×21 average-pooled anomaly map. The U-Net is anomalib's
own `DiscriminativeSubNetwork` (3 input channels here: the image alone, no
reconstruction), the loss is kornia's `FocalLoss` (the one anomalib's DRAEM uses) plus an
optional soft Dice term. Private module: imported lazily by `detectors.supervised_seg`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from anomalib import LearningType
from anomalib.data import Batch, InferenceBatch
from anomalib.models.components import AnomalibModule
from anomalib.models.image.draem.torch_model import DiscriminativeSubNetwork
from anomalib.pre_processing import PreProcessor
from kornia.losses import FocalLoss
from torch import nn
from torchvision.transforms.v2 import Compose, Normalize, Resize


class SegmentationNet(nn.Module):
    """U-Net → 2-class logits in training; anomaly map + pooled-max score in eval."""

    def __init__(self, base_width: int, pool_size: int) -> None:
        super().__init__()
        self.net = DiscriminativeSubNetwork(in_channels=3, out_channels=2, base_width=base_width)
        self.pool_size = pool_size

    def forward(self, image: torch.Tensor) -> torch.Tensor | InferenceBatch:
        logits = self.net(image)
        if self.training:
            return logits
        anomaly_map = torch.softmax(logits, dim=1)[:, 1:]
        pooled = F.avg_pool2d(anomaly_map, self.pool_size, stride=1, padding=self.pool_size // 2)
        score = pooled.flatten(1).amax(dim=1)
        return InferenceBatch(pred_score=score, anomaly_map=anomaly_map[:, 0])


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    prob = torch.softmax(logits, dim=1)[:, 1]
    inter = (prob * target).sum(dim=(1, 2))
    denom = prob.sum(dim=(1, 2)) + target.sum(dim=(1, 2))
    return (1 - (2 * inter + eps) / (denom + eps)).mean()


class SegmentationModule(AnomalibModule):
    """Supervised anomaly segmentation trained on image/mask batches (normal masks are empty)."""

    def __init__(
        self,
        base_width: int = 64,
        input_size: int = 256,
        lr: float = 1e-4,
        focal_gamma: float = 2.0,
        dice_weight: float = 0.0,
        pool_size: int = 21,
    ) -> None:
        pre = PreProcessor(transform=Compose([
            Resize((input_size, input_size), antialias=True),
            Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]))
        super().__init__(pre_processor=pre, post_processor=False, evaluator=False, visualizer=False)
        self.model = SegmentationNet(base_width, pool_size)
        self.loss = FocalLoss(alpha=1.0, gamma=focal_gamma, reduction="mean")
        self.lr = lr
        self.dice_weight = dice_weight

    def training_step(self, batch: Batch, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        del args, kwargs
        logits = self.model(batch.image)
        if batch.gt_mask is None:
            raise RuntimeError("supervised-seg needs masks in every training batch (normal masks are empty)")
        target = batch.gt_mask.to(logits.device).long()
        if target.ndim == 4:
            target = target[:, 0]
        loss = self.loss(logits, target)
        if self.dice_weight > 0:
            loss = loss + self.dice_weight * soft_dice_loss(logits, target.float())
        return {"loss": loss}

    def validation_step(self, batch: Batch, *args: Any, **kwargs: Any):
        del args, kwargs
        return batch.update(**self.model(batch.image)._asdict())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)

    @property
    def trainer_arguments(self) -> dict[str, Any]:
        return {"num_sanity_val_steps": 0}

    @property
    def learning_type(self) -> LearningType:
        # anomalib 2.7 has no supervised type; ONE_CLASS makes Engine.fit run trainer.fit
        return LearningType.ONE_CLASS
