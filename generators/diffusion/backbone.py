"""The one backbone factory: a stock diffusers `UNet2DConditionModel`, a prompt encoder, a codec.

Every diffusion generator in this package builds its network here so that model sizes are
comparable between generators (same `BackboneSpec` → same UNet). diffusers is imported
inside the functions: generator modules are imported by the registry and must stay quick.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

#: special tokens of the learned prompt encoder
PAD, NULL, UNK = "[pad]", "[null]", "[unk]"


@dataclass(frozen=True)
class BackboneSpec:
    """Size of the UNet: channels per resolution level, attention on the deepest levels."""

    block_channels: tuple[int, ...] = (32, 64, 64)
    attention_levels: int = 2
    layers_per_block: int = 1
    attention_heads: int = 4
    cross_attention_dim: int = 64
    norm_groups: int = 8

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def make_unet(spec: BackboneSpec, *, sample_size: int, in_channels: int, out_channels: int, num_domains: int | None):
    """A stock `UNet2DConditionModel`; `num_domains` adds a learned domain (class) embedding.

    The domain embedding is diffusers' ``num_class_embeds`` path: it is added to the time
    embedding, so each strand (image, mask) is told which domain it is in.
    """
    from diffusers import UNet2DConditionModel

    levels = len(spec.block_channels)
    if not 0 <= spec.attention_levels <= levels:
        raise ValueError(f"attention_levels must be in 0..{levels}, got {spec.attention_levels}")
    if sample_size % (2 ** (levels - 1)):
        raise ValueError(f"resolution {sample_size} is not divisible by 2**{levels - 1} ({levels} UNet levels)")
    n_plain = levels - spec.attention_levels
    down = tuple(["DownBlock2D"] * n_plain + ["CrossAttnDownBlock2D"] * spec.attention_levels)
    up = tuple(["CrossAttnUpBlock2D"] * spec.attention_levels + ["UpBlock2D"] * n_plain)
    return UNet2DConditionModel(
        sample_size=sample_size,
        in_channels=in_channels,
        out_channels=out_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=tuple(spec.block_channels),
        layers_per_block=spec.layers_per_block,
        attention_head_dim=spec.attention_heads,  # diffusers' legacy name: this is the number of heads
        cross_attention_dim=spec.cross_attention_dim,
        norm_num_groups=spec.norm_groups,
        num_class_embeds=num_domains,
    )


class PromptedUNet(nn.Module):
    """A plain prompt-conditioned UNet (the two-stage baseline's mask and inpainting models)."""

    def __init__(self, spec: BackboneSpec, *, sample_size: int, in_channels: int, out_channels: int,
                 prompt_encoder: "TokenPromptEncoder | None", unet=None):
        super().__init__()
        if unet is None:
            unet = make_unet(spec, sample_size=sample_size, in_channels=in_channels, out_channels=out_channels,
                             num_domains=None)
        elif (unet.conv_in.in_channels, unet.conv_out.out_channels) != (in_channels, out_channels):
            raise ValueError(f"pretrained UNet takes {unet.conv_in.in_channels} → {unet.conv_out.out_channels} "
                             f"channels, expected {in_channels} → {out_channels}; adapt its conv_in/conv_out first")
        self.unet = unet
        self.prompts = prompt_encoder

    def forward(self, x: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        t = t.expand(x.shape[0]) if t.numel() == 1 else t
        return self.unet(x, t.to(x.device), encoder_hidden_states=context).sample

    def encode_prompts(self, prompts: Sequence[str | None], external=None) -> torch.Tensor:
        return external(prompts) if external is not None else self.prompts(prompts)


def spec_from(params) -> BackboneSpec:
    """The `BackboneSpec` of a diffusion generator's params (`DiffusionParams`)."""
    return BackboneSpec(tuple(params.block_channels), params.attention_levels, params.layers_per_block,
                        params.attention_heads, params.cross_attention_dim,
                        norm_groups=min(8, min(params.block_channels)))


def prompt_for(category: str, defect_type: str) -> str:
    """The text condition: ``a {category} with {defect}`` (``without defects`` for normals)."""
    cat = category.replace("_", " ")
    if defect_type == "good":
        return f"a photo of a {cat} without defects"
    return f"a photo of a {cat} with {defect_type.replace('_', ' ')}"


def _words(prompt: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", prompt.lower()) if w]


class TokenPromptEncoder(nn.Module):
    """Offline prompt encoder: a learned embedding per word plus a learned position embedding.

    Used when no local CLIP text encoder is given (no weights can be downloaded here). The
    vocabulary is the words of the prompts seen in `fit`; ``None`` prompts (classifier-free
    guidance's unconditional branch) map to a learned null sequence.
    """

    def __init__(self, vocab: Sequence[str], dim: int, max_len: int = 12):
        super().__init__()
        self.vocab = [PAD, NULL, UNK] + [w for w in vocab if w not in (PAD, NULL, UNK)]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.max_len = max_len
        self.tokens = nn.Embedding(len(self.vocab), dim)
        self.positions = nn.Parameter(torch.zeros(max_len, dim))
        nn.init.normal_(self.tokens.weight, std=0.02)

    @staticmethod
    def vocab_for(prompts: Sequence[str]) -> list[str]:
        return sorted({w for p in prompts for w in _words(p)})

    def ids(self, prompts: Sequence[str | None]) -> torch.Tensor:
        rows = []
        for p in prompts:
            if p is None:
                row = [self.index[NULL]] + [self.index[PAD]] * (self.max_len - 1)
            else:
                words = _words(p)[: self.max_len]
                row = [self.index.get(w, self.index[UNK]) for w in words]
                row += [self.index[PAD]] * (self.max_len - len(row))
            rows.append(row)
        return torch.tensor(rows, dtype=torch.long, device=self.positions.device)

    def forward(self, prompts: Sequence[str | None]) -> torch.Tensor:
        return self.tokens(self.ids(prompts)) + self.positions


class ClipPromptEncoder(nn.Module):
    """A frozen CLIP text encoder read from a local folder (optional `transformers` dependency)."""

    def __init__(self, path: str | None = None, *, tokenizer=None, model=None):
        super().__init__()
        if model is not None:  # the pretrained backbone's own (generators/diffusion/pretrained.py)
            self.tokenizer, self.model = tokenizer, model
            self.model.requires_grad_(False).eval()
            self.dim = int(self.model.config.hidden_size)
            return
        try:
            from transformers import CLIPTextModel, CLIPTokenizer
        except ImportError:
            raise ImportError(
                f"text_encoder_path={path!r} needs the 'transformers' package; pip install transformers "
                "or leave text_encoder_path unset to use the learned token encoder"
            ) from None
        try:
            self.tokenizer = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer" if _has(path, "tokenizer") else None)
            self.model = CLIPTextModel.from_pretrained(
                path, subfolder="text_encoder" if _has(path, "text_encoder") else None
            )
        except OSError as exc:
            raise OSError(f"{path}: not a CLIP text encoder folder ({exc}); point text_encoder_path at one") from None
        self.model.requires_grad_(False).eval()
        self.dim = int(self.model.config.hidden_size)

    def forward(self, prompts: Sequence[str | None]) -> torch.Tensor:
        text = ["" if p is None else p for p in prompts]
        tok = self.tokenizer(text, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt")
        with torch.no_grad():
            return self.model(tok.input_ids.to(self.model.device))[0]


def _has(path: str, sub: str) -> bool:
    from pathlib import Path

    return (Path(path) / sub).is_dir()


class Codec(nn.Module):
    """Where diffusion runs: pixel space, optionally space-to-depth patched, or the latent space of
    a local `AutoencoderKL`.

    Pixel space with ``patch=p`` is diffusers-free and lossless: `pixel_unshuffle` folds each
    p×p block into channels (R×R×3 → R/p×R/p×3p²), so the UNet runs at 1/p² of the spatial cost
    and the mask keeps its full resolution (its p² sub-pixels become the mask strand's channels).
    In latent space the mask is area-downsampled to the latent grid (one channel).
    Masks enter as [-1, 1] maps; `decode_mask` returns logits at the internal image resolution
    (> 0 = foreground).
    """

    def __init__(self, pretrained_path: str | None = None, resolution: int = 64, patch: int = 1, *,
                 vae=None, mask_patch: bool = False):
        super().__init__()
        self.pretrained_path = pretrained_path
        self.vae = None
        self.patch = 1
        # mask_patch (the pretrained-backbone path): the mask is space-to-depth folded to the latent
        # grid (f×f sub-pixels → f² channels), lossless, instead of area-pooled to one channel
        self.mask_patch = bool(mask_patch)
        if vae is not None:
            self.vae = vae
            self.vae.requires_grad_(False).eval()
        elif pretrained_path:
            from diffusers import AutoencoderKL

            try:
                sub = "vae" if _has(pretrained_path, "vae") else None
                self.vae = AutoencoderKL.from_pretrained(pretrained_path, subfolder=sub)
            except (OSError, EnvironmentError) as exc:
                raise OSError(
                    f"{pretrained_path}: no AutoencoderKL found ({exc.__class__.__name__}); point pretrained_path at a "
                    "Stable Diffusion folder (with vae/) or a VAE folder, or unset it for pixel space"
                ) from None
            self.vae.requires_grad_(False).eval()
        else:
            self.patch = int(patch)
        if resolution % self.factor:
            raise ValueError(f"resolution {resolution} is not divisible by the codec's downsampling {self.factor}")
        self.resolution = resolution

    @property
    def channels(self) -> int:
        return 3 * self.patch**2 if self.vae is None else int(self.vae.config.latent_channels)

    @property
    def clip(self) -> float | None:
        """Range of the diffusion data for the solver's x0 clipping (pixels: [-1, 1]; latents: none)."""
        return 1.0 if self.vae is None else None

    @property
    def mask_channels(self) -> int:
        if self.vae is None:
            return self.patch**2
        return self.factor**2 if self.mask_patch else 1

    @property
    def factor(self) -> int:
        return self.patch if self.vae is None else 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_size(self) -> int:
        return self.resolution // self.factor

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] (N,3,R,R) → diffusion space."""
        if self.vae is None:
            return F.pixel_unshuffle(images, self.patch) if self.patch > 1 else images
        return self.vae.encode(images).latent_dist.mode() * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.vae is None:
            return F.pixel_shuffle(z, self.patch) if self.patch > 1 else z
        return self.vae.decode(z / self.vae.config.scaling_factor).sample.clamp(-1, 1)

    def encode_mask(self, masks: torch.Tensor) -> torch.Tensor:
        """(N,1,R,R) in {0,1} → (N,mask_channels,r,r) in [-1,1]."""
        m = masks * 2 - 1
        if self.vae is None:
            return F.pixel_unshuffle(m, self.patch) if self.patch > 1 else m
        if self.mask_patch:
            return F.pixel_unshuffle(m, self.factor)
        return F.avg_pool2d(m, self.factor)

    def decode_mask(self, m: torch.Tensor) -> torch.Tensor:
        """(N,mask_channels,r,r) → (N,1,R,R) logit map (> 0 = foreground)."""
        if self.vae is None:
            return F.pixel_shuffle(m, self.patch) if self.patch > 1 else m
        if self.mask_patch:
            return F.pixel_shuffle(m, self.factor)
        return F.interpolate(m, scale_factor=self.factor, mode="bilinear", align_corners=False)
