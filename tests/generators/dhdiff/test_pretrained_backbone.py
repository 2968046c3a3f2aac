"""DH-Diff on a pretrained Stable Diffusion backbone, exercised on the tiny random SD folder
(`tiny_sd`, a code-path fixture: nothing here measures quality)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core.toydata import toy_normals, toy_pairs
from harness.core import GENERATORS, RunContext

SIZE = 32
# the tiny VAE downsamples 4×: 32 px → an 8×8 latent, the mask as 16 sub-pixel channels
PRETRAINED = dict(resolution=32, steps=3, batch_size=2, sample_steps=3, sample_batch=4, checkpoint_every=2,
                  window=1.0, second_pass=False, lora_rank=4, guidance_scale=2.0, ssm_estimate_dropout=0.0)
# gradient checkpointing stays on (the default): its backward re-runs the SSM attention


def _ctx(tmp_path, show_progress: bool = False) -> RunContext:
    return RunContext(category="toy", image_size=SIZE, work_dir=tmp_path, show_progress=show_progress)


@pytest.fixture(scope="module")
def data():
    return toy_normals(4, SIZE), toy_pairs(4, SIZE)


@pytest.fixture(scope="module")
def fitted(data, tiny_sd, tmp_path_factory):
    gen = GENERATORS.get("dhdiff")({**PRETRAINED, "pretrained": tiny_sd}, _ctx(tmp_path_factory.mktemp("dhsd")))
    gen.fit(*data, seed=0)
    return gen


def test_helix_at_init_is_the_stock_pretrained_unet_on_the_image_strand(tiny_sd, data, tmp_path):
    """Gates 0 and SSM strengths 0 (gpu-full's init), LoRA at zero, zero domain embedding: the image
    strand's output is the stock pretrained UNet's, with and without a mask estimate."""
    from diffusers import UNet2DConditionModel

    gen = GENERATORS.get("dhdiff")({"pretrained": tiny_sd, "resolution": 32}, RunContext(
        category="toy", image_size=SIZE, profile="gpu-full", work_dir=tmp_path, show_progress=False))
    assert (gen.params.ssm_init, gen.params.gate_init, gen.params.finetune) == (0.0, 0.0, "lora")
    gen._build([], seed=0)
    model = gen.model.eval()
    assert model.n_helix > 0 and model.pretrained
    stock = UNet2DConditionModel.from_pretrained(tiny_sd, subfolder="unet").eval()
    g = torch.Generator().manual_seed(0)
    x, xm = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 16, 8, 8, generator=g)
    t = torch.tensor([999, 500, 3])
    ctx = gen._context(["a photo of a toy with blob", None, "a photo of a toy without defects"])
    estimate = (torch.rand(3, 1, 32, 32, generator=g) > 0.7).float()
    with torch.no_grad():
        ref = stock(x, t, encoder_hidden_states=ctx).sample
        for est in (None, estimate):
            img, mask = model(x, xm, t, ctx, mask_estimate=est)
            torch.testing.assert_close(img, ref, atol=1e-5, rtol=1e-5)
            assert mask.shape == (3, 16, 8, 8)
        # the strands are coupled once the gates open: then the image strand departs from stock
        for proc in model.unet.attn_processors.values():
            if getattr(proc, "gate", None) is not None:
                proc.gate.data.fill_(1.0)
        img, _ = model(x, xm, t, ctx)
    assert (img - ref).abs().max() > 1e-4


def test_fit_and_sample_keep_the_contract(fitted, data, check_contract):
    normals, _ = data
    assert gen_is_latent(fitted)
    pairs = fitted.sample(3, normal_images=normals, seed=0)
    check_contract(pairs, 3, (SIZE, SIZE))
    for p in pairs:  # exact canvas outside the mask
        assert any(np.array_equal(p.image[~p.mask], c[~p.mask]) for c in normals)
    again = fitted.sample(3, normal_images=normals, seed=0)
    assert all(np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) for a, b in zip(pairs, again))


def gen_is_latent(gen) -> bool:
    return gen.codec.vae is not None and gen.text_encoder is not None and gen.schedule["beta_schedule"] == "scaled_linear"


def test_only_trainable_tensors_are_saved_and_reload_identically(fitted, data, tmp_path):
    normals, _ = data
    fitted.save(tmp_path / "m")
    blob = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    keys = set(blob["state_dict"])
    assert any("lora" in k for k in keys) and any(".gate" in k for k in keys)
    assert not any(k.endswith("base_layer.weight") for k in keys)  # frozen SD weights are not copied
    fresh = GENERATORS.get("dhdiff")({**PRETRAINED, "pretrained": blob["params"]["pretrained"]}, _ctx(tmp_path))
    fresh.load(tmp_path / "m")
    a = fitted.sample(2, normal_images=normals, seed=3)
    b = fresh.sample(2, normal_images=normals, seed=3)
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))


def test_training_checkpoints_hold_trainable_tensors_and_resume(fitted, data, tiny_sd):
    ckpts = list((fitted.context.work_dir / "checkpoints").glob("dhdiff-*.pt"))
    assert len(ckpts) == 1
    state = torch.load(ckpts[0], weights_only=True)["model"]
    assert state and all("lora" in k or "gate" in k or "ssm_scale" in k or ".mask." in k or "class_embedding" in k
                         for k in state)
    again = GENERATORS.get("dhdiff")({**PRETRAINED, "pretrained": tiny_sd}, fitted.context)
    again.fit(*data, seed=0)
    assert again.resumed_from == 3 and again.train_losses == fitted.train_losses


def test_full_finetune_and_progress_bar(data, tiny_sd, tmp_path, capsys):
    normals, pairs = data
    gen = GENERATORS.get("dhdiff")({**PRETRAINED, "pretrained": tiny_sd, "finetune": "full", "steps": 1,
                                    "checkpoint_every": 0}, _ctx(tmp_path, show_progress=True))
    gen.fit(normals, pairs, seed=0)
    assert all(p.requires_grad for p in gen.model.unet.parameters())
    gen.sample(2, normal_images=normals, seed=0)
    err = capsys.readouterr().err
    assert "dhdiff: sampling" in err and "/6" in err  # 2 images × 3 solver steps


def test_pretrained_excludes_the_other_latent_params(data, tiny_sd, tmp_path):
    gen = GENERATORS.get("dhdiff")({**PRETRAINED, "pretrained": tiny_sd, "text_encoder_path": tiny_sd},
                                   _ctx(tmp_path))
    with pytest.raises(ValueError, match="unset pretrained_path and text_encoder_path"):
        gen.fit(*data, seed=0)
