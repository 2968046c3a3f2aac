"""anomalib's DRÆM with its Perlin/DTD augmenter replaced by the generator's pairs.

Private module (imported lazily by `detectors.draem`). DRÆM learns (a) to reconstruct the
clean image from an augmented one and (b) to segment the anomaly from image +
reconstruction. A generated pair has no clean source image, so here the reconstruction
target of a generated image is the image itself *outside* its mask (masked L2; no
reconstruction loss inside the defect), normal images keep DRÆM's full L2 + SSIM loss,
and the focal segmentation loss sees every image with its mask.
"""

from __future__ import annotations

from typing import Any

import torch
from anomalib.data import Batch
from anomalib.models import Draem
from anomalib.models.image.draem.torch_model import DiscriminativeSubNetwork, ReconstructiveSubNetwork


class PairsDraem(Draem):
    """Draem trained on (image, mask) batches of normals and generated anomalies."""

    def __init__(self, *, dtd_dir: str, recon_width: int, disc_width: int, lr: float, **kwargs: Any) -> None:
        super().__init__(dtd_dir=dtd_dir, **kwargs)
        self.augmenter = None  # the generator's pairs are the anomalies
        self.model.reconstructive_subnetwork = ReconstructiveSubNetwork(base_width=recon_width)
        self.model.discriminative_subnetwork = DiscriminativeSubNetwork(in_channels=6, out_channels=2,
                                                                        base_width=disc_width)
        self.lr = lr

    def training_step(self, batch: Batch, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        del args, kwargs
        image = batch.image
        mask = batch.gt_mask.float()
        if mask.ndim == 3:
            mask = mask.unsqueeze(1)
        reconstruction, prediction = self.model(image)
        keep = 1.0 - mask  # defect pixels of generated images have no clean target
        l2 = (((reconstruction - image) ** 2) * keep).sum() / (keep.sum() * image.shape[1]).clamp(min=1)
        normal = batch.gt_label == 0
        ssim = self.loss.ssim_loss(reconstruction[normal], image[normal]) * 2 if normal.any() else image.new_zeros(())
        focal = self.loss.focal_loss(prediction, mask.squeeze(1).long())
        return {"loss": l2 + ssim + focal}

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(params=self.model.parameters(), lr=self.lr)
        steps = max(1, int(self.trainer.estimated_stepping_batches))
        # DRÆM decays the rate ×0.1 at 80 % and 90 % of training
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [int(steps * 0.8), int(steps * 0.9)], gamma=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
