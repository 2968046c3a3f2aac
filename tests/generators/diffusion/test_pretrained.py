"""The pretrained Stable Diffusion path (generators/diffusion/pretrained.py) on the tiny random SD
folder: loading through the same `from_pretrained` calls a hub id takes, the checkpoint's noise
schedule, LoRA that starts as the identity, and one-line errors for a bad source."""

from __future__ import annotations

import pytest
import torch

from generators.diffusion import pretrained as sd
from generators.diffusion.backbone import Codec
from generators.diffusion.sampling import make_solver, make_train_scheduler


def test_schedule_and_prediction_come_from_the_checkpoint(tiny_sd):
    schedule, prediction = sd.load_schedule(tiny_sd)
    assert schedule["beta_schedule"] == "scaled_linear" and prediction == "epsilon"
    ours, theirs = make_train_scheduler().alphas_cumprod, make_train_scheduler(schedule).alphas_cumprod
    assert not torch.allclose(ours, theirs)
    solver = make_solver("dpm", 5, None, prediction, schedule)
    assert torch.allclose(solver.alphas_cumprod, theirs)


def test_lora_starts_as_the_pretrained_unet_and_only_adapters_train(tiny_sd):
    stock = sd.load_unet(tiny_sd).eval()
    torch.manual_seed(0)
    unet = sd.load_unet(tiny_sd)
    sd.prepare_finetune(unet, finetune="lora", lora_rank=4, gradient_checkpointing=False)
    unet.eval()
    names = sd.trainable_names(unet)
    assert names and all("lora" in n for n in names)
    x, t, ctx = torch.randn(2, 4, 8, 8), torch.tensor([10, 900]), torch.randn(2, 5, 32)
    with torch.no_grad():
        assert torch.equal(unet(x, t, encoder_hidden_states=ctx).sample, stock(x, t, encoder_hidden_states=ctx).sample)
    full = sd.load_unet(tiny_sd)
    sd.prepare_finetune(full, finetune="full", lora_rank=4, gradient_checkpointing=False)
    assert len(sd.trainable_names(full)) == len(list(full.parameters()))


def test_mask_codec_is_lossless_on_the_latent_grid(tiny_sd):
    codec = Codec(vae=sd.load_vae(tiny_sd), resolution=32, mask_patch=True)
    assert (codec.channels, codec.factor, codec.mask_channels, codec.latent_size) == (4, 4, 16, 8)
    masks = (torch.rand(3, 1, 32, 32) > 0.9).float()  # scattered single pixels: the hardest case
    enc = codec.encode_mask(masks)
    assert enc.shape == (3, 16, 8, 8)
    assert torch.equal(codec.decode_mask(enc) > 0, masks > 0)


def test_bad_sources_fail_with_the_fix(tmp_path, monkeypatch):
    (tmp_path / "unet").mkdir()
    with pytest.raises(sd.PretrainedUnavailable, match="missing vae, text_encoder, tokenizer, scheduler"):
        sd.load_unet(str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(sd.PretrainedUnavailable, match="huggingface-cli download"):
        sd.load_unet("no-such-org/no-such-model-h15")
