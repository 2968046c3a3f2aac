"""Two-stage diffusion baseline: a mask diffusion model, then a mask-conditioned inpainting model."""
