"""Params and profile defaults shared by the diffusion generators, so that DH-Diff and the
two-stage baseline have the same backbone size and training budget unless a spec says otherwise."""

from __future__ import annotations

from typing import Any, Literal

from harness.core import PluginParams


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
    # a pretrained Stable Diffusion backbone (hub id or local diffusers folder): its UNet, VAE, CLIP
    # text encoder and noise schedule replace the from-scratch UNet (generators/diffusion/pretrained.py)
    pretrained: str | None = None
    finetune: Literal["lora", "full"] = "lora"  # pretrained only: LoRA adapters (peft) or every UNet weight
    lora_rank: int = 8
    gradient_checkpointing: bool = True  # pretrained only: recompute activations (memory for time)
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
    # bf16 autocast around the UNet's forward passes (training and sampling): auto = on CUDA only
    # (tensor cores; measured in benchmarks/gpu_profile.py), fp32 elsewhere; CPU runs stay fp32
    precision: Literal["auto", "fp32", "bf16"] = "auto"


#: params that only change sampling: a training checkpoint stays valid when they change
SAMPLING_KEYS: tuple[str, ...] = ("guidance_scale", "solver", "sample_steps", "sample_batch", "max_resample")

#: params of the pretrained-backbone path; left out of a run's fingerprint while `pretrained` is
#: unset, so checkpoints written before they existed keep resuming
PRETRAINED_KEYS: tuple[str, ...] = ("pretrained", "finetune", "lora_rank", "gradient_checkpointing")

#: the params that fix a network's shape: a saved model brings its own values of these
ARCH_KEYS: tuple[str, ...] = ("resolution", "patch", "block_channels", "attention_levels", "layers_per_block",
                              "attention_heads", "cross_attention_dim", "pretrained_path", "text_encoder_path", "prediction",
                              "pretrained", "finetune", "lora_rank")


def fingerprint_params(params: DiffusionParams, exclude: set[str]) -> dict[str, Any]:
    """The params a training checkpoint is keyed by (see PRETRAINED_KEYS)."""
    if params.pretrained is None:
        exclude = exclude | set(PRETRAINED_KEYS)
    return params.model_dump(exclude=exclude)


def saved_arch(saved: dict[str, Any]) -> dict[str, Any]:
    """The ARCH_KEYS of a saved model's params (files from before a key existed lack it: default)."""
    return {k: saved[k] for k in ARCH_KEYS if k in saved}

PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    # fg_loss_weight 20: defects cover < 1 % of an image; at weight 1 a CPU budget learns the
    # background and paints near-normal content inside the mask (docs/dhdiff.md, measured)
    "cpu-quick": {"fg_loss_weight": 20.0},
    "gpu-full": {
        # SD 1.5 + LoRA, as DualAnoDiff; the from-scratch sizes below apply with pretrained: null
        "pretrained": "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "finetune": "lora",
        "lora_rank": 8,
        "resolution": 256,
        "patch": 1,
        "prediction": "epsilon",
        "block_channels": [64, 128, 128, 256, 256],
        "attention_levels": 2,
        "layers_per_block": 2,
        "attention_heads": 8,
        "cross_attention_dim": 256,
        "steps": 5000,  # LoRA on a pretrained backbone (from scratch, pretrained: null, wants ~20000)
        "batch_size": 16,
        "lr": 1e-4,
        "ema_decay": 0.9999,
        "sample_steps": 25,
        "guidance_scale": 2.0,
        "sample_batch": 32,
        "checkpoint_every": 1000,
    },
}
