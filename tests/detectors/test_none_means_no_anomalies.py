"""`none` gives zero anomalous training pixels for every detector.

The `none` generator makes no pairs: a detector that uses anomalies then trains on real
normals only, so no anomalous pixel — generated, its own synthetic noise, or a validation
anomaly — may reach a training step. Parametrised over the registry: a new detector with
`uses_anomalies` and no check here fails `test_every_anomaly_detector_is_checked`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
import torch

from harness.core import DETECTORS, RunContext, TrainSet
from harness.core.toydata import make_tiny_set


@pytest.fixture(scope="module", autouse=True)
def _training_code_imported():
    """anomalib + lightning take ~10 s to import once: pay it here, not in the first test."""
    import anomalib.engine  # noqa: F401
    import anomalib.models  # noqa: F401

    import detectors._engine  # noqa: F401


ANOMALY_DETECTORS = sorted(e.name for e in DETECTORS.entries() if e.obj.uses_anomalies)


def _ctx(tmp_path: Path) -> RunContext:
    return RunContext(category="tiny", image_size=48, work_dir=tmp_path / "w", show_progress=False,
                      cache_dir=tmp_path / "features")


def _normals_only(tmp_path: Path) -> TrainSet:
    """Normals, no generated pairs, and a validation fold *with* real anomalies (must not be trained on)."""
    train, _ = make_tiny_set(tmp_path / "data", n_train=6, n_gen=0, n_test_good=0, n_test_bad=0)
    _, val = make_tiny_set(tmp_path / "val", n_train=0, n_gen=0, n_test_good=2, n_test_bad=2, seed=5)
    assert (val["label"] == 1).any()
    return TrainSet(normal=train.normal, validation=val)


@pytest.fixture
def record_training_batches(monkeypatch):
    """Wraps the training_step of whatever module an anomalib-based detector trains; records its batches."""
    import detectors._engine as engine

    seen: list[dict] = []
    original_fit_module = engine.fit_module

    def fit_module(module, train, context, **kwargs):
        cls = type(module)
        step = cls.training_step

        def training_step(self, batch, *args, **kw):
            mask = batch.gt_mask
            seen.append({
                "module": cls.__name__,
                "mask_pixels": None if mask is None else int((mask > 0).sum()),
                "anomalous_labels": int((batch.gt_label != 0).sum()),
                "n": int(batch.image.shape[0]),
            })
            return step(self, batch, *args, **kw)

        monkeypatch.setattr(cls, "training_step", training_step)
        return original_fit_module(module, train, context, **kwargs)

    monkeypatch.setattr(engine, "fit_module", fit_module)
    return seen


def _assert_no_anomalous_batch(seen: list[dict]) -> None:
    assert seen, "training_step was never called"
    for rec in seen:
        assert rec["mask_pixels"] == 0, f"anomalous pixels in a training batch: {rec}"
        assert rec["anomalous_labels"] == 0, f"anomalous labels in a training batch: {rec}"


def check_frozen_seg(cls, tmp_path, seen, monkeypatch) -> None:
    det = cls({"max_steps": 2, "eval_every": 1, "batch_size": 4}, _ctx(tmp_path), seed=0)
    det.fit(_normals_only(tmp_path))
    assert det.anomalous_training_pixels == 0
    assert [p["step"] for p in det.training_curve] == [1, 2]  # it did train (and scored the fold)


def check_residual_seg(cls, tmp_path, seen, monkeypatch) -> None:
    det = cls({"max_steps": 2, "eval_every": 1, "batch_size": 4, "n_features": 16}, _ctx(tmp_path), seed=0)
    det.fit(_normals_only(tmp_path))
    assert det.anomalous_training_pixels == 0
    # step 0 is the one-class map alone, scored on the fold; then it trained (on normals only)
    assert [p["step"] for p in det.training_curve] == [0, 1, 2]


def check_supervised_seg(cls, tmp_path, seen, monkeypatch) -> None:
    det = cls({"base_width": 4, "input_size": 32, "batch_size": 2, "max_steps": 2, "eval_every": 1}, _ctx(tmp_path),
              seed=0)
    det.fit(_normals_only(tmp_path))
    assert {r["module"] for r in seen} == {"SegmentationModule"}
    assert len(seen) == 2
    _assert_no_anomalous_batch(seen)


def check_draem(cls, tmp_path, seen, monkeypatch) -> None:
    det = cls({"recon_width": 4, "disc_width": 4, "input_size": 32, "batch_size": 2, "max_steps": 2, "eval_every": 1},
              _ctx(tmp_path), seed=0)
    det.fit(_normals_only(tmp_path))
    assert {r["module"] for r in seen} == {"PairsDraem"}
    assert det._module.augmenter is None  # not DRÆM's own Perlin/DTD anomalies
    assert len(seen) == 2
    _assert_no_anomalous_batch(seen)


def check_supersimplenet(cls, tmp_path, seen, monkeypatch) -> None:
    from detectors.supersimplenet import NoFeatureNoise

    noise: list[tuple[int, int]] = []
    forward = NoFeatureNoise.forward

    def recording_forward(self, input_features, adapted_features, masks, labels):
        out = forward(self, input_features, adapted_features, masks, labels)
        noise.append((int((masks > 0).sum()) + int((labels > 0).sum()),
                      int((out[2] > 0).sum()) + int((out[3] > 0).sum())))
        return out

    monkeypatch.setattr(NoFeatureNoise, "forward", recording_forward)
    # feature noise requested: still none without generated pairs
    det = cls({"input_size": 128, "batch_size": 2, "max_steps": 1, "eval_every": 0, "feature_noise": True},
              _ctx(tmp_path), seed=0)
    det.fit(_normals_only(tmp_path))
    assert isinstance(det._module.model.anomaly_generator, NoFeatureNoise)
    assert {r["module"] for r in seen} == {"Supersimplenet"}
    _assert_no_anomalous_batch(seen)
    assert noise and all(n == (0, 0) for n in noise), noise  # masks and labels into and out of the "generator"


def check_glass(cls, tmp_path, seen, monkeypatch) -> None:
    det = cls({"input_size": 128, "batch_size": 2, "max_steps": 1, "embed_dim": 8, "discriminator_hidden": 8,
               "step": 0, "eval_every": 0}, _ctx(tmp_path), seed=0)
    with pytest.raises(ValueError, match="generated pairs"):
        det.fit(_normals_only(tmp_path))
    assert not seen


CHECKS: dict[str, Callable] = {
    "frozen-seg": check_frozen_seg,
    "residual-seg": check_residual_seg,
    "supervised-seg": check_supervised_seg,
    "draem": check_draem,
    "supersimplenet": check_supersimplenet,
    "glass": check_glass,
}


def test_every_anomaly_detector_is_checked():
    missing = sorted(set(ANOMALY_DETECTORS) - set(CHECKS))
    assert not missing, f"add a `none` check for detector(s) {missing} to {__file__}"
    assert set(CHECKS) <= set(ANOMALY_DETECTORS), "a check names a detector that is gone or no longer uses anomalies"


@pytest.mark.parametrize("name", ANOMALY_DETECTORS)
def test_none_gives_zero_anomalous_training_pixels(name, tmp_path, record_training_batches, monkeypatch):
    if name not in CHECKS:
        pytest.fail(f"detector '{name}' uses anomalies but has no `none` check here")
    torch.manual_seed(0)
    CHECKS[name](DETECTORS.get(name), tmp_path, record_training_batches, monkeypatch)


# -- supersimplenet's own feature noise with generated pairs -----------------------------


@pytest.mark.parametrize("feature_noise", [False, True])
def test_supersimplenet_feature_noise_switch(tmp_path, tiny_set, feature_noise):
    from anomalib.models.image.supersimplenet.anomaly_generator import AnomalyGenerator

    from detectors.supersimplenet import NoFeatureNoise, SuperSimpleNet

    train, _ = tiny_set
    det = SuperSimpleNet({"input_size": 128, "feature_noise": feature_noise}, _ctx(tmp_path), seed=0)
    generator = det.build_module(train).model.anomaly_generator
    if feature_noise:
        assert isinstance(generator, AnomalyGenerator) and not isinstance(generator, NoFeatureNoise)
    else:
        assert isinstance(generator, NoFeatureNoise)


@pytest.mark.parametrize("name, params", [
    ("supervised-seg", {"base_width": 4, "input_size": 32, "batch_size": 2, "max_steps": 2, "eval_every": 0}),
    ("draem", {"recon_width": 4, "disc_width": 4, "input_size": 32, "batch_size": 2, "max_steps": 2, "eval_every": 0}),
    ("supersimplenet", {"input_size": 128, "batch_size": 2, "max_steps": 1, "eval_every": 0, "feature_noise": False}),
])
def test_recorder_sees_generated_pixels(name, params, tmp_path, tiny_set, record_training_batches):
    """Control: with generated pairs the same recorder does see anomalous pixels (the checks above are not vacuous)."""
    train, _ = tiny_set
    DETECTORS.get(name)(params, _ctx(tmp_path), seed=0).fit(train)
    assert record_training_batches
    assert all(r["mask_pixels"] > 0 and r["anomalous_labels"] == r["n"] // 2 for r in record_training_batches), \
        record_training_batches
