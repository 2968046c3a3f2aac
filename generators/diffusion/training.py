"""The one training loop of the diffusion generators: AdamW, diffusers `EMAModel`, resumable
checkpoints, a tqdm bar with the loss, and seeded randomness that survives a resume.

The loop is generic: a generator hands it a `step_loss(model, rng) -> loss` closure that draws
its own batch from `rng`, so DH-Diff and the two-stage baseline share every training detail.

On a GPU a step must not wait for the GPU: the loss is read back every `LOSS_READ_EVERY` steps
(one sync for many), not after each step, and the optimiser and EMA use their multi-tensor
kernels. The arithmetic of a step is the same on every device; on the CPU the numbers are those
of every earlier run.
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
from torch import nn

from harness.core.device import Precision, as_device, autocast, generator, is_cuda, randint, randn
from harness.data.io import file_sha256
from harness.fsio import atomic_path
from harness.lock import exclusive

if TYPE_CHECKING:
    from harness.plugin import RunContext


#: training steps between two read-backs of the loss (each read waits for the GPU to catch up)
LOSS_READ_EVERY = 25


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
    device: str | torch.device = "cpu",
    precision: Precision = "fp32",
) -> TrainResult:
    """Train `model` for `steps` optimiser steps, then copy the EMA weights into it.

    With `checkpoint_path`, the state (weights, EMA, optimiser, RNG, losses) is written every
    `checkpoint_every` steps and at the end; a later call with the same `run_fingerprint`
    resumes from it (and a finished run is restored without training again). Fits of one
    fingerprint that differ only in `steps` share the file: the longer continues the shorter, and
    the shorter stays restorable beside it (`finished_copy`), whichever ran first. `trainable_only`
    (a pretrained backbone): checkpoints hold the trainable tensors only, not gigabytes of frozen
    pretrained weights that are re-read from the checkpoint source anyway. `device`: where `model`
    lives and the step's noise is drawn; `precision`: bf16 autocast around the forward pass
    (``auto``: on CUDA only).
    """
    from diffusers.training_utils import EMAModel
    from tqdm.auto import tqdm

    # variants sharing one fit (the run's store, `checkpoint_dir`) may start side by side: they
    # take turns, and the later one restores the finished run instead of training it again
    lock = exclusive(Path(checkpoint_path).with_suffix(".lock")) if checkpoint_path is not None else nullcontext()
    with lock:
        device = as_device(device)
        params = [p for p in model.parameters() if p.requires_grad]
        # CUDA: the fused AdamW kernel and the multi-tensor EMA (one launch for all tensors);
        # elsewhere the single-tensor loops every earlier CPU run used
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=True if is_cuda(device) else None)
        ema = EMAModel(params, decay=ema_decay, use_ema_warmup=True, power=2 / 3, foreach=is_cuda(device))
        rng = TrainRng(seed, device)
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
                ema.to(device)  # restored on the host (map_location="cpu"): the weights it tracks are on `device`
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
        pending: list[torch.Tensor] = []  # losses of the steps since the last read-back, on the device

        def read_losses(first_step: int) -> None:
            if not pending:
                return
            values = torch.stack(pending).float().tolist()  # one wait for the GPU per LOSS_READ_EVERY steps
            pending.clear()
            for k, v in enumerate(values):
                if not np.isfinite(v):
                    raise FloatingPointError(f"{desc}: loss became {v} at step {first_step + k}; lower lr")
            result.losses.extend(values)
            if show_progress:
                bar.set_postfix(loss=f"{np.mean(result.losses[-20:]):.4f}")

        for step in bar:
            with autocast(device, precision):
                loss = step_loss(model, rng)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            opt.step()
            ema.step(params)
            pending.append(loss.detach())
            done = step + 1
            if len(pending) >= LOSS_READ_EVERY or done == steps:
                read_losses(done - len(pending))
            if checkpoint_every and done % checkpoint_every == 0 and done < steps:
                read_losses(done - len(pending))
                save(done)
        read_losses(steps - len(pending))
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
