"""The DH-Diff network: one stock diffusers UNet shared by the image and the mask strand."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from generators.diffusion.backbone import BackboneSpec, TokenPromptEncoder, make_unet
from generators.dhdiff.attention import HelixState, install_helix_processors

IMAGE_DOMAIN, MASK_DOMAIN = 0, 1


class StrandConv(nn.Module):
    """conv_in / conv_out of a pretrained UNet in the two-strand batch: the image strand (first
    half) keeps the pretrained convolution, the mask strand (second half) gets its own.

    Why: a pretrained UNet's conv_in expects VAE latents (4 channels); the mask travels as the
    lossless space-to-depth fold of the full-resolution mask (f² channels, `Codec(mask_patch=True)`),
    a different signal that the pretrained filters were never meant for. Both halves are zero-padded to a
    common channel width so they stay one batch (the UNet body in between is shared).
    """

    def __init__(self, image_conv: nn.Conv2d, mask_conv: nn.Conv2d):
        super().__init__()
        self.image = image_conv
        self.mask = mask_conv
        self.width = max(image_conv.out_channels, mask_conv.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[0] // 2
        out_i = self.image(x[:half, : self.image.in_channels])
        out_m = self.mask(x[half:, : self.mask.in_channels])
        pad = lambda t: F.pad(t, (0, 0, 0, 0, 0, self.width - t.shape[1]))  # noqa: E731
        return torch.cat([pad(out_i), pad(out_m)])


def helix_pretrained_unet(unet, *, mask_channels: int) -> None:
    """Adapt a pretrained `UNet2DConditionModel` to the two strands, leaving the image strand's
    function unchanged: `StrandConv`s at the ends (the mask convs new; the mask conv_out zero, as a
    new output head) and a zero-initialised domain embedding added to the time embedding."""
    from generators.diffusion.pretrained import zero_conv_like

    cin, cout = unet.conv_in, unet.conv_out
    mask_in = nn.Conv2d(mask_channels, cin.out_channels, cin.kernel_size, cin.stride, cin.padding)
    unet.conv_in = StrandConv(cin, mask_in)
    unet.conv_out = StrandConv(cout, zero_conv_like(cout, cout.in_channels, mask_channels, keep=False))
    unet.class_embedding = nn.Embedding(2, unet.time_embedding.linear_2.out_features)
    nn.init.zeros_(unet.class_embedding.weight)
    for m in (unet.conv_in.mask, unet.conv_out.mask, unet.class_embedding):
        m.requires_grad_(True)


class HelixDiffusion(nn.Module):
    """Runs ``[image strand; mask strand]`` as one 2b batch through a `UNet2DConditionModel`.

    The mask strand's channels (1, or p² sub-pixels for a patched pixel codec) are tiled to the
    image's channel layout on the way in and averaged over the tiles on the way out, so both strands use the same in/out convolutions; the domain
    embedding (diffusers ``class_labels``, added to the time embedding) tells them apart.
    """

    def __init__(self, spec: BackboneSpec, *, sample_size: int, channels: int, mask_channels: int, dda: bool,
                 ssm: bool, ssm_init: float = 1.0, gate_init: float = 0.0, prompt_encoder: TokenPromptEncoder | None = None,
                 unet=None):
        super().__init__()
        self.channels = channels
        self.mask_channels = mask_channels
        #: a pretrained UNet (already prepared for LoRA/full fine-tuning): strands meet it through
        #: `StrandConv`s; else our from-scratch UNet, the mask's channels tiled to the image's
        self.pretrained = unet is not None
        if self.pretrained:
            if int(unet.config.in_channels) != channels:
                raise ValueError(f"the pretrained UNet takes {unet.config.in_channels} channels, the codec gives {channels}")
            helix_pretrained_unet(unet, mask_channels=mask_channels)
            self.unet = unet
        else:
            if channels % mask_channels:
                raise ValueError(f"image channels {channels} must be a multiple of mask channels {mask_channels}")
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
        if self.pretrained:
            width = max(self.channels, self.mask_channels)
            pad = lambda t: F.pad(t, (0, 0, 0, 0, 0, width - t.shape[1]))  # noqa: E731
            x = torch.cat([pad(x_img), pad(x_mask)])
        else:
            x = torch.cat([x_img, x_mask.repeat(1, reps, 1, 1)])
        t = t.expand(b) if t.ndim == 0 or t.numel() == 1 else t
        labels = torch.cat([torch.full((b,), IMAGE_DOMAIN, device=x.device), torch.full((b,), MASK_DOMAIN, device=x.device)])
        self.state.mask_estimate = mask_estimate
        # gradient checkpointing (pretrained backbone) re-runs the attention during backward, after
        # this call returned: the estimate must still be there then; the next forward replaces it
        keep = self.training and torch.is_grad_enabled()
        try:
            out = self.unet(x, torch.cat([t, t]).to(x.device), encoder_hidden_states=torch.cat([context, context]),
                            class_labels=labels).sample
        finally:
            if not keep:
                self.state.mask_estimate = None
        m = out[b:]
        if self.pretrained:
            return out[:b, : self.channels], m[:, : self.mask_channels]
        return out[:b], m.view(b, reps, self.mask_channels, *m.shape[-2:]).mean(dim=1)

    def encode_prompts(self, prompts: Sequence[str | None], external=None) -> torch.Tensor:
        if external is not None:
            return external(prompts)
        return self.prompts(prompts)
