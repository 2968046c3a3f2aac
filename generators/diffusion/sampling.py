"""Sampling utilities shared by the diffusion generators: the noise schedule, a few-step
solver, x0 estimates, and the exact full-size composite onto the normal canvas.

Devices: the solver's schedule stays on the host (its step-index lookup would otherwise wait for
the GPU at every step), schedule values enter the device arithmetic as Python floats, noise is
drawn by a generator on the sample's device (`harness.core.device`), and the composite is host
work on uint8 canvases."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from harness.core.device import generator, randn

TRAIN_TIMESTEPS = 1000


def _schedule(schedule: dict | None) -> dict:
    """Noise-schedule kwargs: ours (cosine) unless a pretrained backbone brings its own."""
    if schedule is None:
        return dict(num_train_timesteps=TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2")
    return dict(schedule)


def make_train_scheduler(schedule: dict | None = None):
    """The forward (noising) process a model is trained with: cosine for our own UNets, the
    checkpoint's schedule (`generators.diffusion.pretrained.load_schedule`) for a pretrained one."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**_schedule(schedule), clip_sample=False)


def training_target(x0: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor, prediction: str) -> torch.Tensor:
    """What the network learns to output: ``epsilon`` (noise), ``sample`` (x0) or ``v_prediction``."""
    if prediction == "epsilon":
        return eps
    if prediction == "sample":
        return x0
    if prediction == "v_prediction":
        return alpha_bar.sqrt() * eps - (1 - alpha_bar).sqrt() * x0
    raise ValueError(f"unknown prediction type '{prediction}'; use epsilon, sample or v_prediction")


def make_solver(name: str, steps: int, clip: float | None = 1.0, prediction: str = "epsilon",
                schedule: dict | None = None):
    """A few-step diffusers solver on the training schedule: ``ddim`` or ``dpm`` (DPM-Solver++).

    `clip` bounds the solver's x0 estimates to [-clip, clip] (pixel data lives in [-1, 1]); the
    cosine schedule's last timesteps have alpha_bar ≈ 0, where an unclipped x0 estimate divides
    the noise-prediction error by ~0 and the sample explodes. None: no clipping (latent space).
    """
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    cfg = dict(**_schedule(schedule), prediction_type=prediction)
    if name == "ddim":
        solver = DDIMScheduler(**cfg, clip_sample=clip is not None, clip_sample_range=clip or 1.0,
                               set_alpha_to_one=False)
    elif name == "dpm":
        solver = DPMSolverMultistepScheduler(**cfg, algorithm_type="dpmsolver++", solver_order=2,
                                             thresholding=clip is not None, sample_max_value=clip or 1.0)
    else:
        raise ValueError(f"unknown solver '{name}'; use 'ddim' or 'dpm'")
    # on the host: `step` looks its timestep up in this schedule (a device schedule: a GPU wait per step)
    solver.set_timesteps(steps, device="cpu")
    return solver


def alpha_bar(solver, t: torch.Tensor | int) -> float:
    """The schedule's alpha_bar at timestep `t`, as a Python float (no host/device traffic)."""
    return float(solver.alphas_cumprod[int(t)])


def x0_from_output(solver, x_t: torch.Tensor, out: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
    """The clean-sample estimate implied by the network's output at timestep `t`."""
    a = torch.tensor(alpha_bar(solver, t), dtype=x_t.dtype)  # a host scalar: rounded like the schedule's own
    kind = solver.config.prediction_type
    if kind == "epsilon":
        return (x_t - float((1 - a).sqrt()) * out) / float(a.sqrt())
    if kind == "sample":
        return out
    return float(a.sqrt()) * x_t - float((1 - a).sqrt()) * out


def noised(solver, x0: torch.Tensor, t: torch.Tensor | int, gen: torch.Generator) -> torch.Tensor:
    """`x0` noised to timestep `t` with fresh noise from `gen` (RePaint-style known-region replacement)."""
    noise = randn(x0.shape, gen, x0.device, dtype=torch.float32).to(x0.dtype)
    a = torch.tensor(alpha_bar(solver, t), dtype=x0.dtype)
    return float(a.sqrt()) * x0 + float((1 - a).sqrt()) * noise


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    if radius <= 0:
        return mask
    return F.max_pool2d(mask, 2 * radius + 1, stride=1, padding=radius)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N,3,H,W) in [-1,1] → (N,H,W,3) uint8."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def composite_full_size(canvas: np.ndarray, generated: torch.Tensor, mask_small: np.ndarray,
                        full_mask: np.ndarray | None = None,
                        box: tuple[int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Paste the generated anomaly onto the full-size canvas: exact canvas outside the mask.

    `generated` (3,r,r) in [-1,1] is resized (bilinear) to the canvas; `mask_small` (r,r) bool is
    resized nearest. Returns (image uint8 HxWx3, mask bool HxW); outside the mask the image *is*
    the canvas, byte for byte. `full_mask` (any size, bool) replaces the upsampled small mask
    (a given mask that the output must keep exactly; resized nearest when its size differs).
    `box` = (y0, x0, L): `generated` is the r×r window at (y0, x0) of the canvas resized to L×L
    (see windows.py); it is resized to that window's extent on the canvas instead.
    """
    h, w = canvas.shape[:2]
    r = generated.shape[-1]
    y0, x0, load = box if box is not None else (0, 0, r)
    fy0, fy1 = round(y0 * h / load), round((y0 + r) * h / load)
    fx0, fx1 = round(x0 * w / load), round((x0 + r) * w / load)
    big = np.zeros((h, w, 3), np.uint8)
    win = F.interpolate(generated[None].float(), size=(fy1 - fy0, fx1 - fx0), mode="bilinear", align_corners=False)
    big[fy0:fy1, fx0:fx1] = to_uint8(win)[0]
    if full_mask is None:
        m = torch.from_numpy(np.asarray(mask_small, dtype=np.float32))[None, None]
        mask = np.zeros((h, w), bool)
        mask[fy0:fy1, fx0:fx1] = F.interpolate(m, size=(fy1 - fy0, fx1 - fx0), mode="nearest")[0, 0].numpy() > 0.5
    else:
        m = torch.from_numpy(np.asarray(full_mask, dtype=np.float32))[None, None]
        mask = F.interpolate(m, size=(h, w), mode="nearest")[0, 0].numpy() > 0.5
        if box is not None and mask[:fy0].any() | mask[fy1:].any() | mask[:, :fx0].any() | mask[:, fx1:].any():
            raise ValueError("composite_full_size: the given mask reaches outside the generated window")
    image = np.where(mask[..., None], big, canvas).astype(np.uint8)
    return image, mask


def sampling_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar over solver steps × images (a sampling stage can take minutes on a GPU too)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img·step", disable=not enabled, leave=False)


def pick_canvases(normal_images: Sequence[np.ndarray], n: int, rng: np.random.Generator) -> list[int]:
    """Indices of the canvases to draw on: a seeded permutation, cycled when n exceeds the pool."""
    if not len(normal_images):
        raise ValueError("sample() needs at least one normal image as a canvas; pass normal_images")
    order: list[int] = []
    while len(order) < n:
        order.extend(rng.permutation(len(normal_images)).tolist())
    return order[:n]


def model_file(path: Path) -> Path:
    """`save`/`load` accept a file path or a directory (then ``model.pt`` inside it)."""
    path = Path(path)
    return path / "model.pt" if (path.is_dir() or not path.suffix) else path


def fallback_mask(pool: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A real few-shot mask (1,R,R) of the defect type, drawn from `pool` (k,1,R,R); a central
    square if the drawn one vanished at the internal resolution."""
    m = pool[int(rng.integers(len(pool)))].float()
    if not m.any():
        m = torch.zeros_like(m)
        R = m.shape[-1]
        m[:, R // 2 - R // 8:R // 2 + R // 8, R // 2 - R // 8:R // 2 + R // 8] = 1
    return m


def flip_in_box(mask: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """`mask` (1,R,R) flipped left-right and/or up-down (each with probability 1/2) within its
    bounding box: a new shape of the same size, area and place (a sketch for the mask strand)."""
    ys, xs = torch.nonzero(mask[0] > 0, as_tuple=True)
    if len(ys) == 0:
        return mask
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    dims = [d for d, flip in ((1, rng.random() < 0.5), (2, rng.random() < 0.5)) if flip]
    out = mask.clone()
    if dims:
        out[:, y0:y1, x0:x1] = torch.flip(mask[:, y0:y1, x0:x1], dims)
    return out


def check_sample_request(name: str, fitted: bool, defect_type: str | None, known_types: Sequence[str],
                         masks: Sequence[np.ndarray] | None) -> None:
    """The argument checks every diffusion generator's `sample` makes, with the same messages."""
    if not fitted:
        raise RuntimeError(f"{name}: sample() called before fit() or load(); fit or load a model first")
    if defect_type is not None and defect_type not in known_types:
        raise ValueError(f"{name}: defect type '{defect_type}' was not seen in fit "
                         f"(seen: {', '.join(known_types)}); pick one of them")
    if masks is not None and (not len(masks) or not all(np.asarray(m).any() for m in masks)):
        raise ValueError(f"{name}: masks= must hold non-empty HxW bool masks; drop the empty ones")


def plan_samples(normal_images: Sequence[np.ndarray], n: int, defect_type: str | None, known_types: Sequence[str],
                 seed: int, device: str | torch.device = "cpu"
                 ) -> tuple[np.random.Generator, torch.Generator, list[int], list[str]]:
    """Seeded canvas and defect type per sample, drawn the same way by every diffusion generator
    (so DH-Diff and the two-stage baseline paint on the same canvases for a seed), and the seeded
    generator of the sampling noise, on `device`."""
    rng = np.random.default_rng(seed)
    gen = generator(seed, device)
    canvas_idx = pick_canvases(normal_images, n, rng)
    types = [defect_type or known_types[i] for i in rng.integers(len(known_types), size=n)]
    return rng, gen, canvas_idx, types
