"""`draem`: anomalib's DRÆM trained on the generator's pairs instead of its Perlin/DTD anomalies."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from detectors.anomalib_detector import AnomalibDetector, ValidationParams
from harness.core import DETECTORS, TrainSet


@DETECTORS.register("draem")
class DraemDetector(AnomalibDetector):
    """DRÆM (Zavrtanik et al., ICCV 2021): reconstructive + discriminative U-Nets, fed generated pairs."""

    name = "draem"
    uses_anomalies: ClassVar[bool] = True
    #: the contract checks' size (harness.core.checks): seconds on a CPU
    tiny_params: ClassVar[dict[str, Any]] = {"input_size": 32, "recon_width": 4, "disc_width": 4, "batch_size": 4,
                                             "max_steps": 2}
    include_anomalous = True
    balanced = True

    class Params(ValidationParams):
        recon_width: int = Field(128, ge=4, description="reconstructive U-Net base width (DRÆM: 128)")
        disc_width: int = Field(64, ge=4, description="discriminative U-Net base width (DRÆM: 64)")
        input_size: int | None = Field(None, ge=32)
        batch_size: int = Field(8, ge=2)
        lr: float = Field(1e-4, gt=0)
        epochs: int = Field(700, ge=1)
        max_steps: int = Field(-1, ge=-1)

    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # cpu-quick max_steps: from the validation curve (benchmarks/detector_curves.py, docs/detectors.md)
        "cpu-quick": {"recon_width": 16, "disc_width": 16, "input_size": 128, "batch_size": 8,
                      "lr": 1e-3, "epochs": 100, "max_steps": 300},
        "gpu-full": {"recon_width": 128, "disc_width": 64, "input_size": 256, "batch_size": 8,
                     "lr": 1e-4, "epochs": 700, "max_steps": -1},
    }

    def trainer_kwargs(self) -> dict[str, Any]:
        return {"max_epochs": self.params.epochs, "max_steps": self.params.max_steps}

    def build_module(self, train: TrainSet):
        from anomalib.pre_processing import PreProcessor
        from torchvision.transforms.v2 import Compose, Resize

        from detectors._draem_module import PairsDraem

        p = self.params
        # Draem's constructor downloads DTD unless dtd_dir exists; its augmenter is then replaced,
        # so any existing folder of images will do: our own normal training images.
        dtd_dir = str(Path(train.normal[0]).resolve().parent)
        return PairsDraem(
            dtd_dir=dtd_dir, recon_width=p.recon_width, disc_width=p.disc_width, lr=p.lr,
            pre_processor=PreProcessor(transform=Compose([Resize((self.input_size, self.input_size), antialias=True)])),
            post_processor=False, evaluator=False, visualizer=False,
        )
