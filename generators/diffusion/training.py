"""The diffusion generators' training, importable from one place: the loop (`loop.train_loop`),
its checkpoints and fingerprints (`checkpoints`), and the randomness that survives a resume
(`tensors.TrainRng`). Kept so that generator code and tests import one name for "training"."""

from __future__ import annotations

from generators.diffusion.checkpoints import checkpoint_dir, finished_copy, fingerprint, source_fingerprint
from generators.diffusion.loop import LOSS_READ_EVERY, TrainResult, train_loop
from generators.diffusion.tensors import TrainRng

__all__ = ["LOSS_READ_EVERY", "TrainResult", "TrainRng", "checkpoint_dir", "finished_copy", "fingerprint",
           "source_fingerprint", "train_loop"]
