"""DH-Diff: joint image + annotation-mask diffusion on one diffusers UNet (double helix)."""
