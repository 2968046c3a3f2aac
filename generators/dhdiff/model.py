"""The DH-Diff network: one stock diffusers UNet shared by the image and the mask strand."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from generators.diffusion.backbone import BackboneSpec, TokenPromptEncoder, make_unet
from generators.dhdiff.attention import HelixState, install_helix_processors

IMAGE_DOMAIN, MASK_DOMAIN = 0, 1


class HelixDiffusion(nn.Module):
    """Runs ``[image strand; mask strand]`` as one 2b batch through a `UNet2DConditionModel`.

    The mask strand's channels (1, or p² sub-pixels for a patched pixel codec) are tiled to the
    image's channel layout on the way in and averaged over the tiles on the way out, so both strands use the same in/out convolutions; the domain
    embedding (diffusers ``class_labels``, added to the time embedding) tells them apart.
    """

    def __init__(self, spec: BackboneSpec, *, sample_size: int, channels: int, mask_channels: int, dda: bool,
                 ssm: bool, ssm_init: float = 1.0, gate_init: float = 0.0, prompt_encoder: TokenPromptEncoder | None = None):
        super().__init__()
        if channels % mask_channels:
            raise ValueError(f"image channels {channels} must be a multiple of mask channels {mask_channels}")
        self.channels = channels
        self.mask_channels = mask_channels
        self.unet = make_unet(spec, sample_size=sample_size, in_channels=channels, out_channels=channels,
                              num_domains=2)
        self.state = HelixState()
        self.n_helix = install_helix_processors(self.unet, self.state, dda=dda, ssm=ssm, ssm_init=ssm_init,
                                                gate_init=gate_init)
        self.prompts = prompt_encoder  # None when a frozen external encoder supplies the context

    def forward(self, x_img: torch.Tensor, x_mask: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                mask_estimate: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise predictions (image (b,C,r,r), mask (b,M,r,r)) for noisy strands at timesteps `t`.

        `context` is the prompt embedding (b, L, D); `mask_estimate` (b,1,H,W) in [0,1] feeds SSM.
        """
        b = x_img.shape[0]
        reps = self.channels // self.mask_channels
        x = torch.cat([x_img, x_mask.repeat(1, reps, 1, 1)])
        t = t.expand(b) if t.ndim == 0 or t.numel() == 1 else t
        labels = torch.cat([torch.full((b,), IMAGE_DOMAIN), torch.full((b,), MASK_DOMAIN)]).to(x.device)
        self.state.mask_estimate = mask_estimate
        try:
            out = self.unet(x, torch.cat([t, t]).to(x.device), encoder_hidden_states=torch.cat([context, context]),
                            class_labels=labels).sample
        finally:
            self.state.mask_estimate = None
        m = out[b:]
        return out[:b], m.view(b, reps, self.mask_channels, *m.shape[-2:]).mean(dim=1)

    def encode_prompts(self, prompts: Sequence[str | None], external=None) -> torch.Tensor:
        if external is not None:
            return external(prompts)
        return self.prompts(prompts)
