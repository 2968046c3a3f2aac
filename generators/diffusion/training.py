"""The one training loop of the diffusion generators: AdamW, diffusers `EMAModel`, resumable
checkpoints, a tqdm bar with the loss, and seeded randomness that survives a resume.

The loop is generic: a generator hands it a `step_loss(model, rng) -> loss` closure that draws
its own batch from `rng`, so DH-Diff and the two-stage baseline share every training detail.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.data.io import file_sha256
from harness.fsio import atomic_path
from harness.lock import exclusive

if TYPE_CHECKING:
    from harness.plugin import RunContext


class TrainRng:
    """The randomness of a training run (torch + numpy), saved in checkpoints so resumes are exact."""

    def __init__(self, seed: int):
        self.torch = torch.Generator().manual_seed(int(seed))
        self.numpy = np.random.default_rng(int(seed))

    def state(self) -> dict[str, Any]:
        return {"torch": self.torch.get_state(), "numpy": json.dumps(self.numpy.bit_generator.state)}

    def set_state(self, state: dict[str, Any]) -> None:
        self.torch.set_state(state["torch"])
        self.numpy.bit_generator.state = json.loads(state["numpy"])

    def randn(self, shape: Sequence[int], device: str | torch.device = "cpu") -> torch.Tensor:
        return torch.randn(tuple(shape), generator=self.torch).to(device)


def fingerprint(*parts: Any) -> str:
    """A stable hash of a run's config and data, to refuse resuming a different run's checkpoint."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(str((p.shape, p.dtype)).encode())
            h.update(np.ascontiguousarray(p).tobytes())
        elif isinstance(p, torch.Tensor):
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def source_fingerprint(*packages: str) -> str:
    """A hash of the `.py` sources of `packages` (import names, e.g. "generators.dhdiff").

    Part of a fit's store key: a fit's params, seed and data do not say which code trained it,
    and a store filled by older code was otherwise reused by newer code (a re-measured table then
    mixes two versions of the model). Any edit of these files means a fresh fit; so does an edit
    of sampling code in them, the price of not keeping a list of which functions train."""
    files: list[tuple[str, str]] = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"source_fingerprint: {name!r} is not an importable package")
        files += [(f"{name}/{path.name}", file_sha256(path))
                  for folder in spec.submodule_search_locations for path in sorted(Path(folder).glob("*.py"))]
    return fingerprint(files)


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    resumed_from: int = 0


def checkpoint_dir(context: RunContext) -> Path:
    """Where a generator's training checkpoints go: the run's store of fitted models when the
    harness gives one (`context.cache_dir`, shared by every augmented set of the run, so variants
    whose training fingerprints agree, e.g. differing only in sampling params, fit once), else the
    job's own `work_dir/checkpoints` (removed with it)."""
    if context.cache_dir is not None:
        return Path(context.cache_dir)
    return Path(context.work_dir) / "checkpoints"


def train_loop(
    model: nn.Module,
    step_loss: Callable[[nn.Module, TrainRng], torch.Tensor],
    *,
    steps: int,
    lr: float,
    seed: int,
    ema_decay: float = 0.999,
    grad_clip: float = 1.0,
    checkpoint_path: Path | None = None,
    checkpoint_every: int = 0,
    run_fingerprint: str = "",
    show_progress: bool = True,
    desc: str = "train",
    trainable_only: bool = False,
) -> TrainResult:
    """Train `model` for `steps` optimiser steps, then copy the EMA weights into it.

    With `checkpoint_path`, the state (weights, EMA, optimiser, RNG, losses) is written every
    `checkpoint_every` steps and at the end; a later call with the same `run_fingerprint`
    resumes from it (and a finished run is restored without training again). Fits of one
    fingerprint that differ only in `steps` share the file: the longer continues the shorter, and
    the shorter stays restorable beside it (`finished_copy`), whichever ran first. `trainable_only`
    (a pretrained backbone): checkpoints hold the trainable tensors only, not gigabytes of frozen
    pretrained weights that are re-read from the checkpoint source anyway.
    """
    from diffusers.training_utils import EMAModel
    from tqdm.auto import tqdm

    # variants sharing one fit (the run's store, `checkpoint_dir`) may start side by side: they
    # take turns, and the later one restores the finished run instead of training it again
    lock = exclusive(Path(checkpoint_path).with_suffix(".lock")) if checkpoint_path is not None else nullcontext()
    with lock:
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        ema = EMAModel(params, decay=ema_decay, use_ema_warmup=True, power=2 / 3)
        rng = TrainRng(seed)
        result = TrainResult()
        start = 0
        target = Path(checkpoint_path) if checkpoint_path is not None else None
        ckpt = _resume_point(target, steps, run_fingerprint) if target is not None else None
        if ckpt is not None:
            source, ckpt = ckpt
            if ckpt["step"] > steps:  # a longer fit of the same data: keep it, write this one beside it
                target = finished_copy(target, steps)
            else:
                model.load_state_dict(ckpt["model"], strict=not trainable_only)
                opt.load_state_dict(ckpt["optimizer"])
                ema.load_state_dict(ckpt["ema"])
                rng.set_state(ckpt["rng"])
                result.losses = list(ckpt["losses"])
                start = result.resumed_from = int(ckpt["step"])
                target = source
                if start < steps and ckpt.get("finished", True):  # files from before the flag: kept too
                    # continuing a finished shorter fit: keep it for the variants that train that long
                    _keep(source, finished_copy(source, start))

        def save(step: int) -> None:
            if target is None:
                return
            with atomic_path(target, what="the training checkpoint") as tmp:
                torch.save(
                    {"fingerprint": run_fingerprint, "step": step, "finished": step == steps,
                     "model": _model_state(model, trainable_only),
                     "optimizer": opt.state_dict(), "ema": ema.state_dict(), "rng": rng.state(),
                     "losses": result.losses},
                    tmp,
                )

        model.train()
        bar = tqdm(range(start, steps), desc=desc, disable=not show_progress, initial=start, total=steps, leave=False)
        for step in bar:
            loss = step_loss(model, rng)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: loss became {loss.item()} at step {step}; lower lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            ema.step(params)
            result.losses.append(float(loss.item()))
            if show_progress:
                bar.set_postfix(loss=f"{np.mean(result.losses[-20:]):.4f}")
            done = step + 1
            if checkpoint_every and done % checkpoint_every == 0 and done < steps:
                save(done)
        if start < steps or target is None or not target.is_file():
            save(steps)
        ema.copy_to(params)
        model.eval()
        return result


def finished_copy(path: Path, steps: int) -> Path:
    """Where a finished fit of `steps` steps is kept when the store's file for its fingerprint
    holds a longer fit (variants of one generator that differ only in `steps`: the longer one
    continues the shorter, and both stay restorable, whichever ran first)."""
    return path.with_name(f"{path.stem}.step{steps}{path.suffix}")


def _resume_point(path: Path, steps: int, run_fingerprint: str) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint to start from: a kept finished fit of exactly `steps`, else the store's file
    for the fingerprint (a shorter fit to continue, or a longer one: the caller keeps it)."""
    for source in (finished_copy(path, steps), path):
        if source.is_file():
            ckpt = torch.load(source, map_location="cpu", weights_only=True)
            if ckpt.get("fingerprint") == run_fingerprint:
                return source, ckpt
    return None


def _keep(source: Path, copy: Path) -> None:
    """`copy` as a hard link to `source` (no disk until `source` is replaced; the atomic save
    renames a new file over it), or a plain copy where links do not work."""
    if copy.exists():
        return
    try:
        os.link(source, copy)
    except OSError:
        shutil.copy2(source, copy)


def _model_state(model: nn.Module, trainable_only: bool) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    if not trainable_only:
        return state
    keep = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in state.items() if k in keep}


# ----------------------------------------------------------------------------- data helpers


def images_to_tensor(images: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """HxWx3 uint8 arrays → (N,3,size,size) float in [-1,1] (antialiased bilinear resize)."""
    out = []
    for img in images:
        t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().unsqueeze(0) / 127.5 - 1
        if t.shape[-2:] != (size, size):
            t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(t.clamp(-1, 1))
    return torch.cat(out) if out else torch.empty(0, 3, size, size)


def masks_to_tensor(masks: Sequence[np.ndarray], size: int) -> torch.Tensor:
    """HxW bool arrays → (N,1,size,size) in {0,1}; a cell is foreground if any pixel in it is,
    so that thin defects (scratches) survive the downsampling to the internal resolution."""
    out = []
    for m in masks:
        t = torch.from_numpy(np.ascontiguousarray(m)).float()[None, None]
        if t.shape[-2:] != (size, size):
            t = (F.interpolate(t, size=(size, size), mode="area") > 0).float()
        out.append(t)
    return torch.cat(out) if out else torch.empty(0, 1, size, size)


class BalancedSampler:
    """Class-balanced batches: a class (``good`` or a defect type) uniformly, then an item of it."""

    def __init__(self, labels: Sequence[str]):
        self.classes = sorted(set(labels))
        self.members = {c: np.array([i for i, l in enumerate(labels) if l == c]) for c in self.classes}

    def draw(self, rng: TrainRng, batch_size: int) -> np.ndarray:
        cls = rng.numpy.integers(len(self.classes), size=batch_size)
        return np.array([rng.numpy.choice(self.members[self.classes[c]]) for c in cls])


def random_flips(tensors: Sequence[torch.Tensor], rng: TrainRng, mode: str) -> list[torch.Tensor]:
    """Apply the same random horizontal (and with ``hv`` vertical) flip per item to every tensor."""
    out = list(tensors)
    if mode == "none":
        return out
    n = out[0].shape[0]
    dims = [-1] if mode == "h" else [-1, -2]
    for d in dims:
        flip = torch.from_numpy(rng.numpy.random(n) < 0.5)
        out = [torch.where(flip.view(-1, 1, 1, 1), t.flip(d), t) for t in out]
    return out
