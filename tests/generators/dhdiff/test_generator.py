"""DH-Diff generator: contract, exact background, binary non-empty masks, determinism, save/load,
resume, guidance, ablation registrations (tiny models on the procedural toy set)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core import AnomalyPair, GENERATORS, ParamError, RunContext
from harness.core.toydata import toy_normals, toy_pairs

TINY = dict(resolution=16, patch=2, block_channels=[16, 32], attention_levels=1, attention_heads=2,
            cross_attention_dim=16, steps=12, batch_size=4, sample_steps=4, sample_batch=8, checkpoint_every=0,
            window=1.0, second_pass=False)  # whole-image, one pass; windows and second pass tested below
SIZE = 32


def _ctx(tmp_path, **kw) -> RunContext:
    return RunContext(category="toy", image_size=SIZE, work_dir=tmp_path, show_progress=False, **kw)


@pytest.fixture(scope="module")
def data():
    return toy_normals(6, SIZE), toy_pairs(4, SIZE)


@pytest.fixture(scope="module")
def fitted(data, tmp_path_factory):
    gen = GENERATORS.get("dhdiff")(TINY, _ctx(tmp_path_factory.mktemp("dh")))
    gen.fit(*data, seed=0)
    return gen


def _check_pairs(pairs, normals, n):
    assert len(pairs) == n
    for p in pairs:
        assert isinstance(p, AnomalyPair) and p.mask.dtype == np.bool_ and p.mask.any()
        assert p.image.shape == (SIZE, SIZE, 3)
        # outside the mask the image is one of the canvases, exactly
        assert any(np.array_equal(p.image[~p.mask], c[~p.mask]) for c in normals)
        assert p.defect_type in {"blob", "scratch"}


def test_sample_contract(fitted, data):
    normals, _ = data
    pairs = fitted.sample(5, normal_images=normals, seed=3)
    _check_pairs(pairs, normals, 5)
    assert {p.defect_type for p in fitted.sample(3, normal_images=normals, defect_type="scratch", seed=1)} == {"scratch"}


def test_sampling_is_deterministic(fitted, data):
    normals, _ = data
    a = fitted.sample(3, normal_images=normals, seed=7)
    b = fitted.sample(3, normal_images=normals, seed=7)
    c = fitted.sample(3, normal_images=normals, seed=8)
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))
    assert any(not np.array_equal(x.image, y.image) for x, y in zip(a, c))


def test_fit_is_deterministic(fitted, data, tmp_path):
    again = GENERATORS.get("dhdiff")(TINY, _ctx(tmp_path))
    again.fit(*data, seed=0)
    for (k, v), w in zip(fitted.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(v, w), k


def test_save_load_gives_identical_samples(fitted, data, tmp_path):
    normals, _ = data
    fitted.save(tmp_path / "m")
    fresh = GENERATORS.get("dhdiff")(TINY, _ctx(tmp_path))
    fresh.load(tmp_path / "m")
    a = fitted.sample(3, normal_images=normals, seed=5)
    b = fresh.sample(3, normal_images=normals, seed=5)
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))


def test_given_mask_is_kept_exactly(fitted, data):
    normals, _ = data
    given = np.zeros((SIZE, SIZE), bool)
    given[5:13, 9:20] = True
    pairs = fitted.sample(2, normal_images=normals, seed=2, masks=[given], defect_type="blob")
    for p in pairs:
        assert np.array_equal(p.mask, given)
        assert any(np.array_equal(p.image[~given], c[~given]) for c in normals)
        assert not any(np.array_equal(p.image, c) for c in normals)  # something was drawn inside


def test_empty_masks_fall_back_to_non_empty(fitted, data, monkeypatch):
    """If the model only ever produces empty masks, sample() still returns non-empty ones."""
    normals, _ = data
    real = fitted._denoise

    def empty_unless_guided(canv, prompts, guide, mg, gen):
        imgs, logits = real(canv, prompts, guide, mg, gen)
        return imgs, (logits if guide is not None else -torch.ones_like(logits))

    monkeypatch.setattr(fitted, "_denoise", empty_unless_guided)
    _check_pairs(fitted.sample(3, normal_images=normals, seed=0), normals, 3)


def test_resume_continues_exactly(data, tmp_path):
    params = {**TINY, "steps": 12, "checkpoint_every": 6}
    full = GENERATORS.get("dhdiff")(params, _ctx(tmp_path / "a"))
    full.fit(*data, seed=0)
    first = GENERATORS.get("dhdiff")({**params, "steps": 6}, _ctx(tmp_path / "b"))
    first.fit(*data, seed=0)  # an interrupted run: stopped at step 6
    resumed = GENERATORS.get("dhdiff")(params, _ctx(tmp_path / "b"))
    resumed.fit(*data, seed=0)
    assert resumed.resumed_from == 6 and full.resumed_from == 0
    assert len(resumed.train_losses) == 12
    assert resumed.train_losses == full.train_losses
    for v, w in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(v, w)


def test_a_store_filled_by_other_code_is_not_reused(data, tmp_path, monkeypatch):
    """The run's store of fits (`cache_dir`) is keyed by the training code too: a fit stored by
    other code (here: another source fingerprint) is trained afresh, not restored."""
    import generators.diffusion.base as diffusion_base

    params = {**TINY, "checkpoint_every": 6}
    store = tmp_path / "fits"
    first = GENERATORS.get("dhdiff")(params, _ctx(tmp_path / "a", cache_dir=store))
    first.fit(*data, seed=0)
    again = GENERATORS.get("dhdiff")(params, _ctx(tmp_path / "b", cache_dir=store))
    again.fit(*data, seed=0)
    assert again.resumed_from == 12  # same code: restored from the store
    monkeypatch.setattr(diffusion_base, "source_fingerprint", lambda *packages: "other-code")
    edited = GENERATORS.get("dhdiff")(params, _ctx(tmp_path / "c", cache_dir=store))
    edited.fit(*data, seed=0)
    assert edited.resumed_from == 0
    assert len(list(store.glob("dhdiff-*.pt"))) == 2


def test_errors(data, fitted, tmp_path):
    normals, pairs = data
    gen = GENERATORS.get("dhdiff")(TINY, _ctx(tmp_path))
    with pytest.raises(RuntimeError, match="before fit"):
        gen.sample(1, normal_images=normals, seed=0)
    with pytest.raises(ValueError, match="no real anomaly pairs"):
        gen.fit(normals, [], seed=0)
    with pytest.raises(ValueError, match="not seen in fit"):
        fitted.sample(1, normal_images=normals, defect_type="crack", seed=0)
    with pytest.raises(FileNotFoundError, match="no saved"):
        gen.load(tmp_path / "missing.pt")
    with pytest.raises(ParamError, match="dhdiff: param 'stepz'"):
        GENERATORS.get("dhdiff")({"stepz": 3}, _ctx(tmp_path))


def test_registered_variants():
    for name, dda, ssm in [("dhdiff", True, True), ("dhdiff-no-dda", False, True), ("dhdiff-no-ssm", True, False)]:
        cls = GENERATORS.get(name)
        assert cls.needs_real_anomalies and cls.conditions_on_defect_type
        for profile in ("cpu-quick", "gpu-full"):
            p = cls.resolve_params({}, profile)
            assert (p.dda, p.ssm) == (dda, ssm)
    assert GENERATORS.get("dhdiff").resolve_params({}, "gpu-full").resolution == 256
    quick = GENERATORS.get("dhdiff").resolve_params({}, "cpu-quick")
    assert (quick.window, quick.second_pass, quick.fg_loss_weight) == (0.5, True, 20.0)


@pytest.mark.parametrize("name", ["dhdiff-no-dda", "dhdiff-no-ssm"])
def test_ablations_run(name, data, tmp_path):
    normals, pairs = data
    gen = GENERATORS.get(name)({**TINY, "steps": 3}, _ctx(tmp_path))
    gen.fit(normals, pairs, seed=0)
    _check_pairs(gen.sample(2, normal_images=normals, seed=0), normals, 2)


def test_latent_space_with_a_local_vae(data, tmp_path):
    """gpu-full's latent path: a local AutoencoderKL folder (here a tiny random one) as the codec."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                  up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                  sample_size=16).save_pretrained(tmp_path / "sd" / "vae")
    normals, pairs = data
    gen = GENERATORS.get("dhdiff")({**TINY, "steps": 2, "pretrained_path": str(tmp_path / "sd"),
                                    "block_channels": [16, 16]}, _ctx(tmp_path))
    gen.fit(normals, pairs, seed=0)
    assert (gen.codec.channels, gen.codec.mask_channels, gen.codec.latent_size) == (4, 1, 8)
    _check_pairs(gen.sample(2, normal_images=normals, seed=0), normals, 2)
    with pytest.raises(OSError, match="no AutoencoderKL"):
        GENERATORS.get("dhdiff")({**TINY, "pretrained_path": str(tmp_path)}, _ctx(tmp_path)).fit(normals, pairs, seed=0)


@pytest.fixture(scope="module")
def windowed(data, tmp_path_factory):
    """window 0.5: a 16-px diffusion window of the 32-px images (loaded at native size)."""
    gen = GENERATORS.get("dhdiff")({**TINY, "window": 0.5}, _ctx(tmp_path_factory.mktemp("dhw")))
    gen.fit(*data, seed=0)
    return gen


def test_windowed_sampling_keeps_the_contract_near_real_defects(windowed, data):
    normals, pairs = data
    out = windowed.sample(6, normal_images=normals, seed=4)
    _check_pairs(out, normals, 6)
    # every anomaly lies inside one 16-px window (a 32-px image at load size 32)
    for p in out:
        ys, xs = np.nonzero(p.mask)
        assert ys.max() - ys.min() < 16 and xs.max() - xs.min() < 16
    again = windowed.sample(6, normal_images=normals, seed=4)
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask) for x, y in zip(out, again))


def test_windowed_given_mask_is_kept_exactly_and_must_fit(windowed, data, tmp_path):
    normals, _ = data
    given = np.zeros((SIZE, SIZE), bool)
    given[20:27, 3:12] = True
    for p in windowed.sample(2, normal_images=normals, seed=2, masks=[given], defect_type="blob"):
        assert np.array_equal(p.mask, given)
        assert any(np.array_equal(p.image[~given], c[~given]) for c in normals)
    too_big = np.zeros((SIZE, SIZE), bool)
    too_big[2:30, 10:12] = True
    with pytest.raises(ValueError, match="spans more than the diffusion window"):
        windowed.sample(1, normal_images=normals, seed=0, masks=[too_big])
    windowed.save(tmp_path / "w.pt")
    fresh = GENERATORS.get("dhdiff")(TINY, _ctx(tmp_path))  # window comes from the saved model
    fresh.load(tmp_path / "w.pt")
    assert fresh.params.window == 0.5
    a, b = windowed.sample(2, normal_images=normals, seed=5), fresh.sample(2, normal_images=normals, seed=5)
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))


def test_second_pass_keeps_the_joint_mask_and_redraws_inside_it(fitted, data):
    """second_pass: the first (joint) pass decides the mask; the second redraws the image with the
    mask strand pinned to it — same masks, same canvas outside them, new content inside."""
    normals, _ = data
    one = fitted.sample(4, normal_images=normals, seed=6)
    two_pass = fitted.params.model_copy(update={"second_pass": True})
    fitted.params, saved = two_pass, fitted.params
    try:
        two = fitted.sample(4, normal_images=normals, seed=6)
    finally:
        fitted.params = saved
    _check_pairs(two, normals, 4)
    assert all(np.array_equal(a.mask, b.mask) for a, b in zip(one, two))
    assert all(np.array_equal(a.image[~a.mask], b.image[~b.mask]) for a, b in zip(one, two))
    assert any(not np.array_equal(a.image, b.image) for a, b in zip(one, two))


def _flips(mask: np.ndarray) -> list[np.ndarray]:
    """The mask flipped left-right and/or up-down within its bounding box (4 shapes)."""
    ys, xs = np.nonzero(mask)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    out = []
    for axes in ((), (0,), (1,), (0, 1)):
        m = mask.copy()
        m[box] = np.flip(mask[box], axes) if axes else mask[box]
        out.append(m)
    return out


def test_mask_sketch_starts_the_mask_strand_from_a_flipped_real_mask_of_the_type(windowed, data):
    """mask_sketch 1.0: the mask strand is pinned all the way, so each output mask is a real
    few-shot mask of its type, flipped within its box (cut to the diffusion window); 0 (the
    default) leaves the model's own masks, which an untrained model does not draw like that."""
    normals, real = data
    sketched = windowed.params.model_copy(update={"mask_sketch": 1.0})
    windowed.params, saved = sketched, windowed.params
    try:
        out = windowed.sample(12, normal_images=normals, seed=9)
        again = windowed.sample(12, normal_images=normals, seed=9)
    finally:
        windowed.params = saved
    _check_pairs(out, normals, 12)
    assert all(np.array_equal(x.mask, y.mask) and np.array_equal(x.image, y.image) for x, y in zip(out, again))
    shapes = {t: [f for p in real if p.defect_type == t for f in _flips(p.mask)] for t in {"blob", "scratch"}}
    used = set()
    for p in out:
        hits = [k for k, f in enumerate(shapes[p.defect_type]) if not (p.mask & ~f).any() and (p.mask & f).sum()
                >= 0.5 * f.sum()]
        assert hits, "an output mask that is not a (window-cut) flip of a real mask of its type"
        used.add((p.defect_type, hits[0]))
    assert len(used) > 2  # several masks and flips, not one shape repeated
    free = windowed.sample(12, normal_images=normals, seed=9)
    assert any(not np.array_equal(a.mask, b.mask) for a, b in zip(free, out))


def _canvas_of(pair, normals) -> np.ndarray:
    return next(c for c in normals if np.array_equal(pair.image[~pair.mask], c[~pair.mask]))


def test_mask_trim_drops_the_mask_pixels_the_image_strand_left_unchanged(windowed, data):
    """mask_trim τ: a pixel stays in the mask only where the drawn image differs from its canvas by
    ≥ τ grey levels (rounding to uint8 aside), unless that would empty the mask; the draw is the
    same as without the trim (the trim uses no randomness), so each trimmed mask is a subset."""
    normals, _ = data
    tau = 40.0
    untrimmed = windowed.sample(12, normal_images=normals, seed=11)
    windowed.params, saved = windowed.params.model_copy(update={"mask_trim": tau}), windowed.params
    try:
        trimmed = windowed.sample(12, normal_images=normals, seed=11)
    finally:
        windowed.params = saved
    _check_pairs(trimmed, normals, 12)
    smaller = 0
    for t, u in zip(trimmed, untrimmed):
        assert not (t.mask & ~u.mask).any()
        canvas = _canvas_of(u, normals)
        assert np.array_equal(t.image, np.where(t.mask[..., None], u.image, canvas))
        change = np.abs(t.image.astype(int) - canvas.astype(int)).max(axis=2)
        if np.array_equal(t.mask, u.mask) and (change[u.mask] < tau - 1).any():
            assert (change[u.mask] < tau + 1).all()  # only a mask the trim would empty is kept as drawn
            continue
        assert (change[t.mask] >= tau - 1).all()
        smaller += int(t.mask.sum() < u.mask.sum())
    assert smaller > 0


def test_defects_per_image_paints_more_anomalies_of_the_type_on_the_same_canvas(windowed, data):
    """defects_per_image 2: the first anomaly is the one-per-image draw (one sampling batch, the same seed),
    a second of the same type is painted over that image in its own window, and the mask is the
    union; outside it the image is still its canvas. Given masks are kept as given (ignored)."""
    normals, real = data
    one = windowed.sample(8, normal_images=normals, seed=13)
    windowed.params, saved = windowed.params.model_copy(update={"defects_per_image": 2}), windowed.params
    try:
        two = windowed.sample(8, normal_images=normals, seed=13)
        again = windowed.sample(8, normal_images=normals, seed=13)
        given = windowed.sample(3, normal_images=normals, seed=13, masks=[real[0].mask])
    finally:
        windowed.params = saved
    _check_pairs(two, normals, 8)
    assert all(np.array_equal(x.mask, y.mask) and np.array_equal(x.image, y.image) for x, y in zip(two, again))
    assert [p.defect_type for p in two] == [p.defect_type for p in one]
    for t, o in zip(two, one):
        assert not (o.mask & ~t.mask).any()  # the first anomaly's mask is kept
        assert np.array_equal(t.image[~t.mask], _canvas_of(o, normals)[~t.mask])
    assert sum(int(t.mask.sum() > o.mask.sum()) for t, o in zip(two, one)) >= 4
    assert all(np.array_equal(p.mask, real[0].mask) for p in given)
