"""Params and profile defaults shared by the diffusion generators, so that DH-Diff and the
two-stage baseline have the same backbone size and training budget unless a spec says otherwise."""

from __future__ import annotations

from typing import Any, Literal

from harness.plugin import PluginParams


class DiffusionParams(PluginParams):
    resolution: int = 64  # internal resolution of the diffusion (outputs are resized to the canvas)
    patch: int = 2  # pixel space: fold patch×patch pixels into channels (lossless, patch² less compute)
    block_channels: list[int] = [32, 64, 64]
    attention_levels: int = 2
    layers_per_block: int = 1
    attention_heads: int = 4
    cross_attention_dim: int = 64
    pretrained_path: str | None = None  # local Stable Diffusion (or VAE) folder → latent space
    text_encoder_path: str | None = None  # local CLIP text encoder folder (needs transformers)
    prediction: Literal["epsilon", "sample", "v_prediction"] = "sample"  # what the UNet outputs
    steps: int = 300
    batch_size: int = 6
    lr: float = 1e-3
    ema_decay: float = 0.999
    cond_dropout: float = 0.1
    fg_loss_weight: float = 1.0  # extra image-loss weight inside the anomaly mask
    flips: Literal["none", "h", "hv"] = "h"
    guidance_scale: float = 1.0  # classifier-free guidance scale (1: no unconditional pass)
    solver: Literal["ddim", "dpm"] = "dpm"
    sample_steps: int = 10
    sample_batch: int = 16
    max_resample: int = 2
    checkpoint_every: int = 100


#: params that only change sampling: a training checkpoint stays valid when they change
SAMPLING_KEYS: tuple[str, ...] = ("guidance_scale", "solver", "sample_steps", "sample_batch", "max_resample")

#: the params that fix a network's shape: a saved model brings its own values of these
ARCH_KEYS: tuple[str, ...] = ("resolution", "patch", "block_channels", "attention_levels", "layers_per_block",
                              "attention_heads", "cross_attention_dim", "pretrained_path", "text_encoder_path", "prediction")

PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    # fg_loss_weight 20: defects cover < 1 % of an image; at weight 1 a CPU budget learns the
    # background and paints near-normal content inside the mask (docs/dhdiff.md, measured)
    "cpu-quick": {"fg_loss_weight": 20.0},
    "gpu-full": {
        "resolution": 256,
        "patch": 1,
        "prediction": "epsilon",
        "block_channels": [64, 128, 128, 256, 256],
        "attention_levels": 2,
        "layers_per_block": 2,
        "attention_heads": 8,
        "cross_attention_dim": 256,
        "steps": 20000,
        "batch_size": 16,
        "lr": 1e-4,
        "ema_decay": 0.9999,
        "sample_steps": 25,
        "guidance_scale": 2.0,
        "sample_batch": 32,
        "checkpoint_every": 1000,
    },
}
