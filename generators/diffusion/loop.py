"""The one training loop of the diffusion generators: AdamW, diffusers `EMAModel`, resumable
checkpoints (`generators.diffusion.checkpoints`), a tqdm bar with the loss, and seeded randomness
that survives a resume (`generators.diffusion.tensors.TrainRng`).

The loop is generic: a generator hands it a `step_loss(model, rng) -> loss` closure that draws
its own batch from `rng`, so DH-Diff and the two-stage baseline share every training detail.

On a GPU a step must not wait for the GPU: the loss is read back every `LOSS_READ_EVERY` steps
(one sync for many), not after each step, and the optimiser and EMA use their multi-tensor
kernels. The arithmetic of a step is the same on every device; on the CPU the numbers are those
of every earlier run.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from generators.diffusion.checkpoints import finished_copy, keep, model_state, resume_point
from generators.diffusion.tensors import TrainRng
from harness.core.device import Precision, as_device, autocast, is_cuda
from harness.core.fsio import atomic_path
from harness.core.lock import exclusive

#: training steps between two read-backs of the loss (each read waits for the GPU to catch up)
LOSS_READ_EVERY = 25


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)
    resumed_from: int = 0


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
        ckpt = resume_point(target, steps, run_fingerprint) if target is not None else None
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
                    keep(source, finished_copy(source, start))

        def save(step: int) -> None:
            if target is None:
                return
            with atomic_path(target, what="the training checkpoint") as tmp:
                torch.save(
                    {"fingerprint": run_fingerprint, "step": step, "finished": step == steps,
                     "model": model_state(model, trainable_only),
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
