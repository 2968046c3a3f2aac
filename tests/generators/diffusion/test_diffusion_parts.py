"""Shared diffusion parts: codec, data helpers, solver maths, composite, training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from generators.diffusion.backbone import BackboneSpec, Codec, PromptedUNet, TokenPromptEncoder, make_unet, prompt_for
from generators.diffusion.sampling import (
    composite_full_size, make_solver, make_train_scheduler, pick_canvases, training_target, x0_from_output,
)
from harness.core.toydata import toy_pairs
from generators.diffusion.tensors import BalancedSampler, images_to_tensor, masks_to_tensor, random_flips
from generators.diffusion.training import TrainRng, finished_copy, fingerprint, source_fingerprint, train_loop


def test_patch_codec_is_lossless():
    codec = Codec(None, resolution=16, patch=2)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    z = codec.encode(x)
    assert z.shape == (2, 12, 8, 8) and (codec.channels, codec.mask_channels, codec.latent_size) == (12, 4, 8)
    assert torch.equal(codec.decode(z), x)
    m = (torch.rand(2, 1, 16, 16) > 0.7).float()
    assert torch.equal(codec.decode_mask(codec.encode_mask(m)) > 0, m > 0)
    with pytest.raises(ValueError, match="not divisible"):
        Codec(None, resolution=15, patch=2)


def test_thin_defects_survive_mask_downsampling():
    m = np.zeros((64, 64), bool)
    m[:, 31] = True  # a one-pixel scratch
    small = masks_to_tensor([m], 16)
    assert small.shape == (1, 1, 16, 16) and small[0, 0, :, 7].all() and small.sum() == 16


def test_images_to_tensor_range_and_size():
    img = np.full((40, 40, 3), 255, np.uint8)
    t = images_to_tensor([img], 16)
    assert t.shape == (1, 3, 16, 16) and torch.allclose(t, torch.ones_like(t))


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_x0_from_output_inverts_the_training_target(prediction):
    solver = make_solver("ddim", 10, prediction=prediction)
    alphas = make_train_scheduler().alphas_cumprod
    x0, eps = torch.rand(2, 3, 4, 4) * 2 - 1, torch.randn(2, 3, 4, 4)
    for t in (10, 500, 900):
        a = alphas[t]
        x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
        rec = x0_from_output(solver, x_t, training_target(x0, eps, a, prediction), t)
        torch.testing.assert_close(rec, x0, rtol=1e-4, atol=1e-3)


def test_clipped_solver_stays_bounded_with_a_poor_model():
    """At alpha_bar ≈ 0 an unclipped x0 estimate divides the model's error by ~0."""

    def run(name: str, clip: float | None) -> float:
        solver = make_solver(name, 10, clip=clip)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(1, 3, 8, 8, generator=g)
        for t in solver.timesteps:
            eps = x + 0.3 * torch.randn(x.shape, generator=g)  # a noisy epsilon prediction
            x = solver.step(eps, t, x).prev_sample
        return float(x.abs().max())

    for name in ("ddim", "dpm"):
        assert run(name, 1.0) < 1.1
        assert run(name, None) > 1.5  # unclipped: 1.6 (ddim), ~1800 (dpm)


def test_composite_keeps_canvas_exactly_outside_mask():
    canvas = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    gen = torch.zeros(3, 8, 8)
    small = np.zeros((8, 8), bool)
    small[2:4, 3:6] = True
    image, mask = composite_full_size(canvas, gen, small)
    assert mask.shape == (40, 40) and mask.sum() == 2 * 5 * 3 * 5
    assert np.array_equal(image[~mask], canvas[~mask]) and (image[mask] == 128).all()
    full = np.zeros((40, 40), bool)
    full[0, 0] = True
    image, mask = composite_full_size(canvas, gen, small, full_mask=full)
    assert np.array_equal(mask, full) and np.array_equal(image[1:], canvas[1:])


def test_balanced_sampler_balances_classes():
    labels = ["good"] * 98 + ["crack", "hole"]
    drawn = BalancedSampler(labels).draw(TrainRng(0), 3000)
    frac = np.bincount([["good", "crack", "hole"].index(labels[i]) for i in drawn]) / 3000
    assert np.allclose(frac, 1 / 3, atol=0.04)


def test_flips_are_shared_by_image_and_mask():
    pairs = toy_pairs(8, 16)
    img = images_to_tensor([p.image for p in pairs], 16)
    m = masks_to_tensor([p.mask for p in pairs], 16)
    fi, fm = random_flips([img, m], TrainRng(3), "hv")
    assert not torch.equal(fi, img)
    for i in range(8):  # the flipped image is dark/bright exactly where the flipped mask is
        match = [torch.equal(fm[i], m[i].flip(d)) and torch.equal(fi[i], img[i].flip(d))
                 for d in ([], [-1], [-2], [-1, -2])]
        assert any(match)


def test_fingerprint_tracks_data():
    a = np.zeros((2, 2), np.uint8)
    assert fingerprint("x", a) == fingerprint("x", a.copy())
    assert fingerprint("x", a) != fingerprint("x", a + 1)


def test_source_fingerprint_changes_with_the_code_of_the_package(tmp_path, monkeypatch):
    """A fit's store key holds the code that trained it: editing a file of the package gives a
    new key (a fresh fit), the same sources give the same key."""
    pkg = tmp_path / "fakegen"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text("WIDTH = 32\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    source_fingerprint.cache_clear()
    before = source_fingerprint("fakegen")
    source_fingerprint.cache_clear()
    assert source_fingerprint("fakegen") == before
    (pkg / "model.py").write_text("WIDTH = 48\n")
    source_fingerprint.cache_clear()
    assert source_fingerprint("fakegen") != before
    with pytest.raises(ValueError, match="not an importable package"):
        source_fingerprint("fakegen.model")
    source_fingerprint.cache_clear()


def test_prompts_and_tokens():
    assert prompt_for("metal_nut", "color") == "a photo of a metal nut with color"
    enc = TokenPromptEncoder(TokenPromptEncoder.vocab_for([prompt_for("bottle", "crack")]), 8)
    ids = enc.ids([prompt_for("bottle", "crack"), None, "a bottle with dent"])
    assert ids.shape == (3, enc.max_len)
    assert ids[1, 0] == enc.index["[null]"] and enc.index["[unk]"] in ids[2].tolist()


def test_unet_factory_checks_resolution():
    with pytest.raises(ValueError, match="not divisible"):
        make_unet(BackboneSpec(block_channels=(16, 32, 32)), sample_size=6, in_channels=3, out_channels=3,
                  num_domains=None)


def test_pick_canvases_cycles_and_needs_canvases():
    idx = pick_canvases([0, 1, 2], 7, np.random.default_rng(0))
    assert len(idx) == 7 and sorted(idx[:3]) == [0, 1, 2]
    with pytest.raises(ValueError, match="normal_images"):
        pick_canvases([], 1, np.random.default_rng(0))


@pytest.mark.slow
def test_tiny_model_overfits_four_pairs():
    """The shared loop (AdamW + EMA) drives a tiny UNet's denoising loss on 4 images down ≥ 5×."""
    codec = Codec(None, 16, 2)
    x0 = codec.encode(images_to_tensor([p.image for p in toy_pairs(4, 32)], 16))
    torch.manual_seed(0)
    spec = BackboneSpec(block_channels=(16, 32), attention_levels=1, attention_heads=2, cross_attention_dim=16)
    model = PromptedUNet(spec, sample_size=8, in_channels=12, out_channels=12, prompt_encoder=TokenPromptEncoder(["a"], 16))
    alphas = make_train_scheduler().alphas_cumprod
    g = torch.Generator().manual_seed(123)
    te = torch.linspace(50, 950, 8).long().repeat_interleave(4)
    ee = torch.randn(32, 12, 8, 8, generator=g)
    xe = x0.repeat(8, 1, 1, 1)

    def eval_loss() -> float:
        a = alphas[te].view(-1, 1, 1, 1)
        with torch.no_grad():
            return F.mse_loss(model(a.sqrt() * xe + (1 - a).sqrt() * ee, te, model.encode_prompts(["a"] * 32)), ee).item()

    def step_loss(m, rng):
        t = torch.randint(0, 1000, (4,), generator=rng.torch)
        e = rng.randn(x0.shape)
        a = alphas[t].view(-1, 1, 1, 1)
        return F.mse_loss(m(a.sqrt() * x0 + (1 - a).sqrt() * e, t, m.encode_prompts(["a"] * 4)), e)

    before = eval_loss()
    train_loop(model, step_loss, steps=300, lr=5e-3, seed=0, ema_decay=0.99, show_progress=False)
    assert eval_loss() <= before / 5


def _linear_fit(path, steps: int):
    """A 2-weight model trained by the shared loop with a checkpoint at `path`: (model, result)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    y = torch.tensor([[1.0], [0.0], [2.0]])

    def step_loss(m, rng):
        noise = 0.01 * rng.randn(y.shape)
        return F.mse_loss(m(x), y + noise)

    result = train_loop(model, step_loss, steps=steps, lr=1e-2, seed=0, checkpoint_path=path,
                        checkpoint_every=2, run_fingerprint="fp", show_progress=False)
    return model, result


@pytest.mark.parametrize("longer_first", [False, True])
def test_fits_that_differ_only_in_steps_share_the_store_whichever_runs_first(tmp_path, longer_first):
    """Variants of one generator that differ only in `steps` share a fingerprint: the longer one
    continues the shorter, and the shorter stays restorable (its weights exactly those of a
    6-step fit on its own), so neither is trained twice and neither is lost."""
    alone, alone_result = _linear_fit(tmp_path / "alone.pt", 6)
    path = tmp_path / "store" / "fit.pt"
    path.parent.mkdir()
    order = [12, 6] if longer_first else [6, 12]
    runs = {steps: _linear_fit(path, steps) for steps in order}
    assert runs[12][1].resumed_from == (0 if longer_first else 6)
    assert runs[6][1].resumed_from == 0
    assert torch.load(path, weights_only=True)["step"] == 12  # the longer fit was not overwritten
    assert torch.load(finished_copy(path, 6), weights_only=True)["step"] == 6
    for steps in (6, 12):  # both restore without training
        again, result = _linear_fit(path, steps)
        assert result.resumed_from == steps and len(result.losses) == steps
        assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), runs[steps][0].state_dict().values()))
    assert runs[6][1].losses == alone_result.losses
    assert all(torch.equal(a, b) for a, b in zip(runs[6][0].state_dict().values(), alone.state_dict().values()))
