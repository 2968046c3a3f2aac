"""`twostage` on a pretrained Stable Diffusion backbone, on the tiny random SD folder (a code-path
fixture: nothing here measures quality)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core.toydata import toy_normals, toy_pairs
from harness.core import GENERATORS, RunContext

SIZE = 32
PRETRAINED = dict(resolution=32, steps=2, batch_size=2, sample_steps=3, sample_batch=4, checkpoint_every=0,
                  lora_rank=4, gradient_checkpointing=False)


def _ctx(tmp_path, show_progress: bool = False) -> RunContext:
    return RunContext(category="toy", image_size=SIZE, work_dir=tmp_path, show_progress=show_progress)


@pytest.fixture(scope="module")
def data():
    return toy_normals(4, SIZE), toy_pairs(4, SIZE)


@pytest.fixture(scope="module")
def fitted(data, tiny_sd, tmp_path_factory):
    gen = GENERATORS.get("twostage")({**PRETRAINED, "pretrained": tiny_sd}, _ctx(tmp_path_factory.mktemp("tssd")))
    gen.fit(*data, seed=0)
    return gen


def test_inpainting_stage_starts_as_the_pretrained_unet(tiny_sd, tmp_path):
    """conv_in widened to SD-inpainting's 9 channels, new inputs zero: on the noisy latent the
    stage-2 UNet computes the stock pretrained function before training."""
    from diffusers import UNet2DConditionModel

    gen = GENERATORS.get("twostage")({**PRETRAINED, "pretrained": tiny_sd}, _ctx(tmp_path))
    gen._build([], seed=0)
    assert gen.paint_model.unet.conv_in.in_channels == 9 and gen.mask_model.unet.conv_in.in_channels == 16
    stock = UNet2DConditionModel.from_pretrained(tiny_sd, subfolder="unet").eval()
    x, cond = torch.randn(2, 4, 8, 8), torch.randn(2, 5, 8, 8)
    t, ctx = torch.tensor([700, 40]), gen.text_encoder(["a photo of a toy with blob", None])
    with torch.no_grad():
        out = gen.paint_model.eval()(torch.cat([x, cond], 1), t, ctx)
        torch.testing.assert_close(out, stock(x, t, encoder_hidden_states=ctx).sample, atol=1e-5, rtol=1e-5)


def test_fit_sample_save_load(fitted, data, tmp_path, check_contract):
    normals, _ = data
    pairs = fitted.sample(3, normal_images=normals, seed=0)
    check_contract(pairs, 3, (SIZE, SIZE))
    for p in pairs:
        assert any(np.array_equal(p.image[~p.mask], c[~p.mask]) for c in normals)
    fitted.save(tmp_path / "m")
    fresh = GENERATORS.get("twostage")({**PRETRAINED, "pretrained": fitted.params.pretrained}, _ctx(tmp_path))
    fresh.load(tmp_path / "m")
    again = fresh.sample(3, normal_images=normals, seed=0)
    assert all(np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask) for a, b in zip(pairs, again))


def test_sampling_shows_a_bar_over_steps_and_images(fitted, data, capsys):
    normals, _ = data
    fitted.context = _ctx(fitted.context.work_dir, show_progress=True)
    try:
        given = [np.pad(np.ones((6, 6), bool), 13)]
        fitted.sample(2, normal_images=normals, seed=0, masks=given)  # stage 1 skipped: 2 × 3 steps
    finally:
        fitted.context = _ctx(fitted.context.work_dir)
    assert "twostage: sampling" in capsys.readouterr().err
