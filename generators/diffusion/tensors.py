"""Data helpers of the diffusion generators: images and masks as tensors, class-balanced batches,
shared random flips, and the seeded randomness a training run draws them with (`TrainRng`, saved in
its checkpoints). Every tensor here is made on a named device: nothing is "on the CPU" by
accident (a CPU tensor in a GPU batch is the bug class the fake-GPU tests catch)."""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from harness.core.device import as_device, as_tensor, generator, randint, randn


class TrainRng:
    """The randomness of a training run, saved in checkpoints so resumes are exact: numpy for the
    host-side choices (batch items, windows, flips, dropout), a torch generator on the training
    device for noise and timesteps (`harness.core.device.generator`)."""

    def __init__(self, seed: int, device: str | torch.device = "cpu"):
        self.device = as_device(device)
        self.torch = generator(seed, self.device)
        self.numpy = np.random.default_rng(int(seed))

    def state(self) -> dict[str, Any]:
        return {"torch": self.torch.get_state(), "torch_device": self.torch.device.type,
                "numpy": json.dumps(self.numpy.bit_generator.state)}

    def set_state(self, state: dict[str, Any]) -> None:
        saved = state.get("torch_device", "cpu")
        if saved != self.torch.device.type:
            raise ValueError(f"a checkpoint's {saved} random state cannot continue a run on {self.device}; "
                             "the fit store keys fits by device, so this file was put there by hand")
        self.torch.set_state(state["torch"].cpu())
        self.numpy.bit_generator.state = json.loads(state["numpy"])

    def randn(self, shape: Sequence[int], device: str | torch.device | None = None) -> torch.Tensor:
        return randn(shape, self.torch, self.device if device is None else device)

    def randint(self, low: int, high: int, shape: Sequence[int]) -> torch.Tensor:
        return randint(low, high, shape, self.torch, self.device)


def images_to_tensor(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """HxWx3 uint8 arrays → (N,3,size,size) float in [-1,1] on the host (antialiased bilinear resize).

    On the host on purpose: the canvases are composited there too; callers move the batch once."""
    out = []
    for img in images:
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().unsqueeze(0) / 127.5 - 1
        if t.shape[-2:] != (size, size):
            t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(t.clamp(-1, 1))
    return torch.cat(out) if out else torch.empty(0, 3, size, size)


def masks_to_tensor(masks: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """HxW bool arrays → (N,1,size,size) in {0,1} on the host; a cell is foreground if any pixel in
    it is, so that thin defects (scratches) survive the downsampling to the internal resolution."""
    out = []
    for m in masks:
        t = torch.from_numpy(np.ascontiguousarray(m)).float()[None, None]
        if t.shape[-2:] != (size, size):
            t = (F.interpolate(t, size=(size, size), mode="area") > 0).float()
        out.append(t)
    return torch.cat(out) if out else torch.empty(0, 1, size, size)


def mask_bounds(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of a (1,H,W) or (H,W) mask's foreground (end exclusive), None when empty.

    Computed once per mask, on the host, before training: looking it up in a device mask every
    step would stop the GPU (``nonzero`` waits for it) twice per batch item."""
    m = mask.detach().cpu()
    m = m[0] if m.ndim == 3 else m
    ys, xs = torch.nonzero(m > 0, as_tuple=True)
    if not len(ys):
        return None
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


class BalancedSampler:
    """Class-balanced batches: a class (``good`` or a defect type) uniformly, then an item of it."""

    def __init__(self, labels: Sequence[str]):
        self.classes = sorted(set(labels))
        self.members = {c: np.array([i for i, l in enumerate(labels) if l == c]) for c in self.classes}

    def draw(self, rng: TrainRng, batch_size: int) -> np.ndarray:
        cls = rng.numpy.integers(len(self.classes), size=batch_size)
        return np.array([rng.numpy.choice(self.members[self.classes[c]]) for c in cls])


def random_flips(tensors: Sequence[torch.Tensor], rng: TrainRng, mode: str) -> list[torch.Tensor]:
    """Apply the same random horizontal (and with ``hv`` vertical) flip per item to every tensor.

    The flips are drawn on the host (numpy, as every earlier run drew them) and the choice is moved
    to each tensor's device: it was built on the CPU once, and the first CUDA training step died
    of it."""
    out = list(tensors)
    if mode == "none":
        return out
    n = out[0].shape[0]
    dims = [-1] if mode == "h" else [-1, -2]
    for d in dims:
        flip = as_tensor(rng.numpy.random(n) < 0.5, out[0].device).view(-1, 1, 1, 1)
        out = [torch.where(flip.to(t.device), t.flip(d), t) for t in out]
    return out
