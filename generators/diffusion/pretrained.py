"""A pretrained Stable Diffusion backbone (diffusers format): loading, noise schedule, LoRA/full fine-tuning.

Why: every strong generator of this field (AnomalyDiffusion, DualAnoDiff, SeaS) starts from a
pretrained latent diffusion model; training a UNet from scratch on a few dozen images cannot
match that. ``pretrained`` is a Hugging Face hub id (users with internet: the hub downloads and
caches it) or a local folder in diffusers layout (``unet/``, ``vae/``, ``text_encoder/``,
``tokenizer/``, ``scheduler/``). Nothing here downloads by itself: ``from_pretrained`` does, for
hub ids only, and a failure becomes one line naming the source and how to provide it offline.
LoRA goes through ``peft`` (diffusers' ``add_adapter``), not our own low-rank code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.core.offline_sources import SD_PARTS

#: what ``pretrained`` defaults to in the gpu-full profile (SD 1.5, the anchors' backbone)
SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"
#: the sub-folders a diffusers SD checkpoint must have
PARTS = SD_PARTS
#: attention projections LoRA adapts (diffusers' own LoRA training scripts use the same)
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


class PretrainedUnavailable(OSError):
    """A pretrained checkpoint could not be loaded; the message names it and the fix."""


def is_local(source: str) -> bool:
    return Path(source).expanduser().exists()


def check_source(source: str) -> None:
    """A local folder must be a complete diffusers SD folder (a hub id is checked when loading)."""
    if not is_local(source):
        return
    root = Path(source).expanduser()
    missing = [p for p in PARTS if not (root / p).is_dir()]
    if missing:
        raise PretrainedUnavailable(
            f"{root}: not a Stable Diffusion folder in diffusers format (missing {', '.join(missing)}/); "
            f"save one with `StableDiffusionPipeline.save_pretrained`, or `huggingface-cli download {SD15} "
            f"--local-dir {root}`")


def _fix(source: str) -> str:
    if is_local(source):
        return f"check the folder {source} (diffusers layout: {', '.join(PARTS)})"
    return (f"on a machine with internet run `huggingface-cli download {source} --local-dir DIR` and set "
            "pretrained: DIR (or run once online: the hub caches it under $HF_HOME)")


def _load(cls, source: str, part: str):
    check_source(source)
    where = str(Path(source).expanduser()) if is_local(source) else source
    try:
        return cls.from_pretrained(where, subfolder=part)
    except (OSError, ValueError) as exc:  # offline hub, missing repo, missing or corrupt files
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        raise PretrainedUnavailable(f"pretrained={source!r}: cannot load its {part} ({first}); {_fix(source)}") from None


def load_unet(source: str):
    from diffusers import UNet2DConditionModel

    return _load(UNet2DConditionModel, source, "unet")


def load_vae(source: str):
    from diffusers import AutoencoderKL

    return _load(AutoencoderKL, source, "vae")


def load_text_parts(source: str):
    """(CLIPTokenizer, CLIPTextModel) of the checkpoint."""
    from transformers import CLIPTextModel, CLIPTokenizer

    return _load(CLIPTokenizer, source, "tokenizer"), _load(CLIPTextModel, source, "text_encoder")


def load_schedule(source: str) -> tuple[dict[str, Any], str]:
    """(noise-schedule kwargs for diffusers schedulers, prediction type) the UNet was trained with.

    A pretrained UNet only denoises well on its own schedule (SD 1.x: scaled-linear betas
    0.00085–0.012, epsilon), so training and sampling use it instead of our cosine default.
    """
    from diffusers import DDPMScheduler

    check_source(source)
    where = str(Path(source).expanduser()) if is_local(source) else source
    try:
        cfg = DDPMScheduler.load_config(where, subfolder="scheduler")
    except (OSError, ValueError) as exc:
        raise PretrainedUnavailable(f"pretrained={source!r}: cannot load its scheduler config "
                                    f"({exc.__class__.__name__}); {_fix(source)}") from None
    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule")
    schedule = {k: cfg[k] for k in keys if k in cfg}
    return schedule, cfg.get("prediction_type", "epsilon")


def load_shared_parts(name: str, params, device):
    """What both diffusion generators take from a pretrained SD checkpoint besides its UNet:
    the noise schedule, the params with the checkpoint's prediction type, its VAE as the codec
    (mask: lossless space-to-depth fold) and its CLIP text encoder. Returns
    ``(schedule, params, codec, text_encoder)``."""
    from generators.diffusion.backbone import ClipPromptEncoder, Codec

    if params.pretrained_path or params.text_encoder_path:
        raise ValueError(f"{name}: pretrained= brings its own VAE and text encoder; "
                         "unset pretrained_path and text_encoder_path")
    schedule, prediction = load_schedule(params.pretrained)
    params = params.model_copy(update={"prediction": prediction})
    codec = Codec(vae=load_vae(params.pretrained), resolution=params.resolution, mask_patch=True).to(device)
    tokenizer, text_model = load_text_parts(params.pretrained)
    text_encoder = ClipPromptEncoder(tokenizer=tokenizer, model=text_model).to(device)
    return schedule, params, codec, text_encoder


def zero_conv_like(conv: nn.Conv2d, in_channels: int, out_channels: int, *, keep: bool) -> nn.Conv2d:
    """A conv of `conv`'s kernel/padding with new channel counts, zero-initialised; `keep` copies
    `conv`'s weights into the first input/output channels (a widened conv_in stays the pretrained
    one on its original inputs — how diffusers' inpainting fine-tunes widen SD's conv_in)."""
    new = nn.Conv2d(in_channels, out_channels, conv.kernel_size, conv.stride, conv.padding)
    with torch.no_grad():
        new.weight.zero_()
        new.bias.zero_()
        if keep:
            i, o = min(in_channels, conv.in_channels), min(out_channels, conv.out_channels)
            new.weight[:o, :i] = conv.weight[:o, :i]
            new.bias[:o] = conv.bias[:o]
    return new


def prepare_finetune(unet, *, finetune: str, lora_rank: int, gradient_checkpointing: bool) -> None:
    """Freeze the pretrained UNet and add LoRA adapters (``lora``), or train all of it (``full``).

    LoRA's up-projections start at zero (peft), so an adapted UNet computes exactly the
    pretrained function until it is trained. Modules added later (helix processors, strand
    convolutions, domain embedding) are trainable in both modes.
    """
    if finetune == "full":
        unet.requires_grad_(True)
    elif finetune == "lora":
        from peft import LoraConfig

        unet.requires_grad_(False)
        unet.add_adapter(LoraConfig(r=lora_rank, lora_alpha=lora_rank, init_lora_weights="gaussian",
                                    target_modules=list(LORA_TARGETS)))
    else:
        raise ValueError(f"finetune must be 'lora' or 'full', got {finetune!r}")
    if gradient_checkpointing:
        unet.enable_gradient_checkpointing()


def trainable_names(model: nn.Module) -> list[str]:
    """State-dict keys of the trainable parameters: what a pretrained-backbone checkpoint stores
    (the frozen pretrained weights are re-read from `pretrained`, not copied into every run)."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


def load_trainable(model: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load a trainable-only state dict; every trainable parameter must be in it."""
    need = set(trainable_names(model))
    missing = sorted(need - set(state))
    if missing:
        raise ValueError(f"{what}: the saved state lacks {len(missing)} trainable tensors (e.g. {missing[0]!r}); "
                         "it was saved with other finetune/lora_rank params")
    unexpected = model.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise ValueError(f"{what}: the saved state has tensors this model lacks (e.g. {unexpected[0]!r})")
