"""The public checks catch what they claim to, pick checks by declarations, and keep expected
failures honest (a declared failure that passes, or names no check, is an error)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core import AnomalyPair, Generator, PluginParams, RunContext
from harness.core.checks import CheckFailed, check_generator, generator_checks


class Stamp(Generator):
    """Stamps a white square at a seeded position (a well-behaved pasting generator)."""

    name = "stamp"
    needs_training = False
    keeps_canvas_outside_mask = True
    supported_devices = ("cpu",)

    class Params(PluginParams):
        side: int = 5

    def fit(self, normal_images, anomaly_pairs, *, seed):
        pass

    def _mask(self, shape, rng) -> np.ndarray:
        y, x = rng.integers(0, shape[0] - self.params.side, 2)
        mask = np.zeros(shape[:2], bool)
        mask[y:y + self.params.side, x:x + self.params.side] = True
        return mask

    def sample(self, n, *, normal_images, defect_type=None, seed):
        rng = np.random.default_rng(seed)
        out = []
        for i in range(n):
            image = normal_images[i % len(normal_images)].copy()
            mask = self._mask(image.shape, rng)
            image[mask] = 255
            out.append(AnomalyPair(image, mask, "stamp"))
        return out


class EmptyMasks(Stamp):
    name = "empty-masks"

    def _mask(self, shape, rng) -> np.ndarray:
        return np.zeros(shape[:2], bool)


class PaintsOutside(Stamp):
    """Brightens the whole canvas as well as the square: claims keeps_canvas_outside_mask wrongly."""

    name = "paints-outside"

    def sample(self, n, *, normal_images, defect_type=None, seed):
        return [AnomalyPair(np.clip(p.image.astype(int) + 1, 0, 255).astype(np.uint8), p.mask, p.defect_type)
                for p in super().sample(n, normal_images=normal_images, seed=seed)]


def test_a_well_behaved_generator_passes_every_check_it_gets(tmp_path):
    outcome = check_generator(Stamp, work_dir=tmp_path)
    assert set(outcome.values()) == {"passed"}
    assert list(outcome) == [c.name for c in generator_checks(Stamp)]
    assert "canvas_is_kept_outside_the_mask" in outcome  # it claims keeps_canvas_outside_mask
    assert not any("fakegpu" in name for name in outcome)  # supported_devices = ("cpu",)


def test_broken_generators_fail_the_checks_that_catch_them(tmp_path):
    with pytest.raises(CheckFailed, match="pairs_are_images_with_binary_non_empty_masks: .*empty or malformed mask"):
        check_generator(EmptyMasks, work_dir=tmp_path / "a")
    with pytest.raises(CheckFailed, match="canvas_is_kept_outside_the_mask: .*differ from every canvas"):
        check_generator(PaintsOutside, work_dir=tmp_path / "b")


def test_a_declared_failure_is_expected_and_one_that_passes_is_an_error(tmp_path):
    class Declared(PaintsOutside):
        expected_failures = {"canvas_is_kept_outside_the_mask": "brightens the whole canvas (known)"}

    outcome = check_generator(Declared, work_dir=tmp_path / "a")
    assert outcome["canvas_is_kept_outside_the_mask"] == "expected failure: brightens the whole canvas (known)"

    class Stale(Stamp):
        expected_failures = {"canvas_is_kept_outside_the_mask": "fixed long ago"}

    with pytest.raises(CheckFailed, match="canvas_is_kept_outside_the_mask: passed, but expected_failures says"):
        check_generator(Stale, work_dir=tmp_path / "b")

    class Typo(Stamp):
        expected_failures = {"canvas_kept": "a check that does not exist"}

    with pytest.raises(CheckFailed, match=r"declarations: .*expected_failures names no check of it: \['canvas_kept'\]"):
        check_generator(Typo, work_dir=tmp_path / "c")


def test_an_instance_is_checked_with_its_own_params(tmp_path):
    whole = Stamp({"side": 32}, RunContext("toy", 32, work_dir=tmp_path, show_progress=False))
    with pytest.raises(CheckFailed, match="pairs_are_images_with_binary_non_empty_masks"):
        check_generator(whole, work_dir=tmp_path / "w")  # a 32 px square fills the 32 px canvas
    assert set(check_generator(Stamp({"side": 3}, RunContext("toy", 32)), work_dir=tmp_path / "v").values()) \
        == {"passed"}


def test_a_generator_that_makes_no_pairs_by_design_passes_with_none(tmp_path):
    class NoPairs(Stamp):
        makes_pairs = False
        keeps_canvas_outside_mask = False

        def sample(self, n, *, normal_images, defect_type=None, seed):
            return []

    assert set(check_generator(NoPairs, work_dir=tmp_path / "a").values()) == {"passed"}
    with pytest.raises(CheckFailed, match="asked for 4 pairs, got 0"):
        check_generator(type("Silent", (NoPairs,), {"makes_pairs": True, "name": "silent"}), work_dir=tmp_path / "b")
