"""Copy-paste: real defects pasted exactly, by defect type, and clear errors without real anomalies."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core import AnomalyPair, GENERATORS, ParamError, RunContext

SCRATCH = np.array([250, 250, 250], np.uint8)
SPOT = np.array([20, 20, 230], np.uint8)


def make(params=None, size=64):
    return GENERATORS.get("copy-paste")(params, RunContext(category="synthetic", image_size=size))


@pytest.fixture
def real_pairs(object_canvases):
    pairs = []
    for canvas in object_canvases[:2]:
        img, mask = canvas.copy(), np.zeros((64, 64), bool)
        for k in range(12):  # a diagonal scratch
            mask[20 + k, 25 + k : 27 + k] = True
        img[mask] = SCRATCH
        pairs.append(AnomalyPair(img, mask, "scratch"))
        img, mask = canvas.copy(), np.zeros((64, 64), bool)
        yy, xx = np.mgrid[:64, :64]
        mask = (yy - 35) ** 2 + (xx - 30) ** 2 <= 16
        img[mask] = SPOT
        pairs.append(AnomalyPair(img, mask, "spot"))
    return pairs


def test_pastes_exactly_the_defect_pixels(object_canvases, real_pairs, check_contract, source_canvas):
    gen = make()
    canvases = object_canvases[2:]
    gen.fit(canvases, real_pairs, seed=0)
    pairs = gen.sample(12, normal_images=canvases, seed=1)
    check_contract(pairs, 12, (64, 64))
    for pair in pairs:
        canvas = source_canvas(pair, canvases)
        assert np.array_equal(pair.image[~pair.mask], canvas[~pair.mask])
        colour = SCRATCH if pair.defect_type == "scratch" else SPOT
        # defect pixels only: resizing mixes no canvas or object pixels into the flat defect colour
        assert np.abs(pair.image[pair.mask].astype(int) - colour).max() <= 2
    assert {p.defect_type for p in pairs} == {"scratch", "spot"}


def test_defect_type_selects_its_pairs(object_canvases, real_pairs):
    gen = make()
    gen.fit(object_canvases[2:], real_pairs, seed=0)
    pairs = gen.sample(8, normal_images=object_canvases[2:], defect_type="spot", seed=2)
    assert {p.defect_type for p in pairs} == {"spot"}
    assert all(np.abs(p.image[p.mask].astype(int) - SPOT).max() <= 2 for p in pairs)
    with pytest.raises(ValueError, match="no real pairs of defect type 'crack'.*known: scratch, spot"):
        gen.sample(1, normal_images=object_canvases[2:], defect_type="crack", seed=2)


def test_context_px_grows_the_pasted_region(object_canvases, real_pairs):
    plain, wide = make({"scale": (1, 1), "flip": False, "rotate90": False}), make(
        {"scale": (1, 1), "flip": False, "rotate90": False, "context_px": 2}
    )
    plain.fit(object_canvases[2:], real_pairs, seed=0)
    wide.fit(object_canvases[2:], real_pairs, seed=0)
    a = plain.sample(4, normal_images=object_canvases[2:], defect_type="spot", seed=3)
    b = wide.sample(4, normal_images=object_canvases[2:], defect_type="spot", seed=3)
    assert all(pb.mask.sum() > pa.mask.sum() for pa, pb in zip(a, b))


def test_keep_position_pastes_near_the_original_place(object_canvases, real_pairs):
    gen = make({"keep_position": True, "scale": (1, 1)})
    gen.fit(object_canvases[2:], real_pairs, seed=0)
    for pair in gen.sample(5, normal_images=object_canvases[2:], defect_type="spot", seed=4):
        ys, xs = np.nonzero(pair.mask)
        assert abs(ys.mean() - 35) <= 4 and abs(xs.mean() - 30) <= 4


def test_fit_without_real_anomalies_is_a_clear_error(object_canvases):
    with pytest.raises(ValueError, match="needs real anomalies.*generator-train split"):
        make().fit(object_canvases, [], seed=0)
    empty = AnomalyPair(object_canvases[0], np.zeros((64, 64), bool), "scratch")
    with pytest.raises(ValueError, match="needs real anomalies"):
        make().fit(object_canvases, [empty], seed=0)


def test_sample_before_fit_is_a_clear_error(object_canvases):
    with pytest.raises(RuntimeError, match="call fit"):
        make().sample(1, normal_images=object_canvases, seed=0)


def test_declares_its_needs():
    cls = GENERATORS.get("copy-paste")
    assert cls.needs_real_anomalies and cls.conditions_on_defect_type


@pytest.mark.parametrize("params", [{"scale": (1.2, 0.8)}, {"scale": (0, 1)}, {"context_px": -1}, {"dilate": 2}])
def test_impossible_params_are_param_errors(params):
    with pytest.raises(ParamError, match="copy-paste"):
        make(params)


def test_save_and_load_restore_the_cuts(tmp_path, object_canvases, real_pairs, same_pairs):
    gen = make()
    gen.fit(object_canvases[2:], real_pairs, seed=0)
    gen.save(tmp_path / "cuts.npz")
    restored = make()
    restored.load(tmp_path / "cuts.npz")
    assert restored.defect_types == ["scratch", "spot"]
    assert same_pairs(
        gen.sample(4, normal_images=object_canvases[2:], seed=5),
        restored.sample(4, normal_images=object_canvases[2:], seed=5),
    )
