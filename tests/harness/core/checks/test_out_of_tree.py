"""A plug-in that lives outside the repository, found through an entry point as `pip install` would
leave it, passes the public contract checks; the failure it declares is expected, with its reason."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from harness.core import Registry
from harness.core.checks import check_detector, check_generator

PLUGIN = '''
"""tinyplug: a third party's generator and detector, importing nothing but harness.core."""

from __future__ import annotations

import numpy as np

from harness.core import AnomalyPair, Detector, Generator, PluginParams, Predictions, load_image, randint, to_numpy
from harness.core.device import generator


class FlipSquare(Generator):
    """Inverts the colours of a random square of each canvas."""

    name = "flip-square"
    needs_training = False
    keeps_canvas_outside_mask = True
    tiny_params = {"side": 6}

    class Params(PluginParams):
        side: int = 8

    def fit(self, normal_images, anomaly_pairs, *, seed):
        pass

    def sample(self, n, *, normal_images, defect_type=None, seed):
        device = self.context.device
        draws = generator(seed, device)
        out = []
        for i in range(n):
            canvas = normal_images[i % len(normal_images)]
            h, w = canvas.shape[:2]
            side = self.params.side
            y, x = (int(v) for v in to_numpy(randint(0, min(h, w) - side, (2,), draws, device)))
            image, mask = canvas.copy(), np.zeros((h, w), bool)
            mask[y:y + side, x:x + side] = True
            image[mask] = 255 - image[mask]
            out.append(AnomalyPair(image, mask, "flip"))
        return out


class PixelZScore(Detector):
    """Per-pixel z-score against the normals' mean and spread."""

    name = "pixel-z"
    uses_anomalies = False
    supported_devices = ("cpu",)
    tiny_params = {"eps": 4.0}
    expected_failures = {"same_seed_same_numbers": "image scores break ties with unseeded jitter (tinyplug #1)"}

    class Params(PluginParams):
        eps: float = 1.0

    def __init__(self, params, context, *, seed):
        super().__init__(params, context, seed=seed)
        self._mean = self._std = None

    def fit(self, train):
        size = self.context.image_size
        stack = np.stack([load_image(p, size).astype(np.float32) for p in train.normal])
        self._mean, self._std = stack.mean(0), stack.std(0) + self.params.eps

    def predict(self, test):
        if self._mean is None:
            raise RuntimeError("pixel-z: call fit before predict")
        size = self.context.image_size
        maps = np.stack([(np.abs(load_image(p, size) - self._mean) / self._std).mean(-1)
                         for p in test["image_path"]]).astype(np.float32)
        scores = maps.reshape(len(maps), -1).max(1) + np.random.default_rng().uniform(0, 1e-6, len(maps))
        return Predictions(scores, maps)
'''


@pytest.fixture
def installed(tmp_path, monkeypatch) -> Path:
    """tinyplug as an installed distribution: its module and a dist-info folder with its entry points,
    on sys.path (what `pip install tinyplug` leaves in site-packages)."""
    site = tmp_path / "site-packages"
    (site / "tinyplug-0.1.dist-info").mkdir(parents=True)
    (site / "tinyplug.py").write_text(PLUGIN)
    (site / "tinyplug-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplug\nVersion: 0.1\n")
    (site / "tinyplug-0.1.dist-info" / "entry_points.txt").write_text(textwrap.dedent("""\
        [bench.generators]
        flip-square = tinyplug:FlipSquare

        [bench.detectors]
        pixel-z = tinyplug:PixelZScore
        """))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "tinyplug", raising=False)
    return site


def test_an_installed_generator_passes_the_public_checks(installed, tmp_path):
    cls = Registry("generator", group="bench.generators").get("flip-square")
    assert Path(sys.modules[cls.__module__].__file__).parent == installed  # not in the repository
    outcome = check_generator(cls, work_dir=tmp_path / "work")
    assert set(outcome.values()) == {"passed"}, outcome
    # picked by its declarations: the canvas check (keeps_canvas_outside_mask) and the fake-GPU one
    assert {"canvas_is_kept_outside_the_mask", "fit_sample_save_load_on_fakegpu"} <= set(outcome)


def test_an_installed_detector_passes_with_its_declared_failure(installed, tmp_path):
    cls = Registry("detector", group="bench.detectors").get("pixel-z")
    outcome = check_detector(cls, work_dir=tmp_path / "work")
    assert outcome.pop("same_seed_same_numbers") == \
        "expected failure: image scores break ties with unseeded jitter (tinyplug #1)"
    assert set(outcome.values()) == {"passed"}, outcome
    assert "one_class_detectors_ignore_generated_pairs" in outcome  # uses_anomalies = False
    assert not any(name.startswith("fit_predict_on_") for name in outcome)  # supported_devices = ("cpu",)


def test_parametrize_with_checks_gives_one_item_per_check(installed):
    """The pytest helper: one item per check, ids naming plug-in and check, the declared failure a
    strict xfail with its reason, the checks that fit and predict a detector marked slow."""
    from tinyplug import FlipSquare, PixelZScore

    from harness.core.checks import detector_checks, generator_checks, parametrize_with_checks

    mark = parametrize_with_checks([FlipSquare, PixelZScore])
    assert mark.name == "parametrize" and mark.args[0] == ("plugin", "check")
    items = {p.id: p for p in mark.args[1]}
    expected = [f"flip-square-{c.name}" for c in generator_checks(FlipSquare)] + \
        [f"pixel-z-{c.name}" for c in detector_checks(PixelZScore)]
    assert list(items) == expected
    xfails = {i: m for i, p in items.items() for m in p.marks if m.name == "xfail"}
    assert list(xfails) == ["pixel-z-same_seed_same_numbers"]
    assert xfails["pixel-z-same_seed_same_numbers"].kwargs == {
        "reason": "image scores break ties with unseeded jitter (tinyplug #1)", "strict": True}
    assert "slow" in {m.name for m in items["pixel-z-predictions_are_raw_row_aligned_maps"].marks}
    assert not items["flip-square-declarations"].marks
    plugin, check = items["flip-square-declarations"].values
    assert plugin is FlipSquare and callable(check)
