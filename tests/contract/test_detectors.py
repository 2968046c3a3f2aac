"""Every registered detector against one set of checks: the contract `harness.core.detector` states.

Raw predictions row-aligned with the test table (image scores (N,), maps (N, H, W) float32 at
the run's image size, finite), the same numbers for the same seed, predict-before-fit an
error, and one-class detectors (`uses_anomalies = False`) unmoved by generated pairs. Each
plug-in's own tests keep what only it does (its learning, its weights, its params).
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.core import RunContext, TrainSet, fakegpu
from harness.core.registry import DETECTORS

SIZE = 48
#: CPU-cheap params per detector; a new plug-in adds its line here (the first test says so)
TINY: dict[str, dict] = {
    "supervised-seg": {"base_width": 8, "input_size": 32, "batch_size": 4, "max_steps": 3},
    "frozen-seg": {"max_steps": 4, "eval_every": 5, "batch_size": 4},
    "residual-seg": {"max_steps": 4, "eval_every": 2, "batch_size": 4, "n_features": 16},
    "patchcore": {"input_size": 64},
    "padim": {"input_size": 64},
    "draem": {"input_size": 32, "recon_width": 4, "disc_width": 4, "batch_size": 4, "max_steps": 2},
    "glass": {"input_size": 64, "batch_size": 4, "embed_dim": 32, "discriminator_hidden": 32, "step": 1,
              "max_steps": 2},
    "supersimplenet": {"input_size": 128, "max_steps": 2, "batch_size": 4},
}


def _make_tiny_set():
    """tests/detectors/conftest.py's on-disk set, by path (tests/ is not a package)."""
    path = Path(__file__).resolve().parents[1] / "detectors" / "conftest.py"
    spec = importlib.util.spec_from_file_location("detector_tiny_set", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_tiny_set


def test_every_registered_detector_has_contract_params():
    assert set(DETECTORS.names()) <= set(TINY), f"add CPU-cheap params for {set(DETECTORS.names()) - set(TINY)}"


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return _make_tiny_set()(tmp_path_factory.mktemp("tiny-set"))


def _fit_predict(name: str, train: TrainSet, test, work: Path, seed: int = 0):
    ctx = RunContext("tiny", SIZE, "cpu-quick", "cpu", work, show_progress=False, cache_dir=work / "features")
    det = DETECTORS.get(name)(TINY[name], ctx, seed=seed)
    det.fit(train)
    return det.predict(test)


@pytest.fixture(scope="module", params=sorted(TINY))
def predicted(request, tiny_set, tmp_path_factory):
    if request.param not in DETECTORS:
        pytest.skip(f"{request.param} is not registered")
    train, test = tiny_set
    work = tmp_path_factory.mktemp(request.param)
    return request.param, _fit_predict(request.param, train, test, work / "a"), work


@pytest.mark.slow
def test_predictions_are_raw_row_aligned_maps(predicted, tiny_set):
    _, test = tiny_set
    _, preds, _ = predicted
    scores, maps = np.asarray(preds.image_scores), preds.anomaly_maps
    assert scores.shape == (len(test),) and np.isfinite(scores).all()
    assert maps.shape == (len(test), SIZE, SIZE) and maps.dtype == np.float32 and np.isfinite(maps).all()
    assert maps.std() > 0, "a constant map scores nothing"


@pytest.mark.slow
def test_same_seed_same_numbers(predicted, tiny_set):
    name, preds, work = predicted
    train, test = tiny_set
    again = _fit_predict(name, train, test, work / "b")
    np.testing.assert_array_equal(preds.image_scores, again.image_scores)
    np.testing.assert_array_equal(preds.anomaly_maps, again.anomaly_maps)


@pytest.mark.slow
def test_one_class_detectors_ignore_generated_pairs(predicted, tiny_set):
    name, preds, work = predicted
    if DETECTORS.get(name).uses_anomalies:
        pytest.skip(f"{name} learns from generated pairs")
    train, test = tiny_set
    normals_only = _fit_predict(name, TrainSet(normal=train.normal), test, work / "c")
    np.testing.assert_array_equal(preds.anomaly_maps, normals_only.anomaly_maps)


#: every device this machine has, and the fake GPU (harness.core.fakegpu), which raises PyTorch's
#: device-mismatch error wherever CUDA would: CI has no GPU
DEVICES = [*(["cuda"] if torch.cuda.is_available() else []), "fakegpu"]


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_fit_predict_on_every_device(device, predicted, tiny_set):
    """On the fake GPU a detector computes the CPU's numbers (the same kernels) and its work
    runs on the device; on a GPU its predictions keep the contract."""
    name, on_cpu, work = predicted
    train, test = tiny_set
    before = fakegpu.ops_run
    with (fakegpu.fake_gpu() if device == "fakegpu" else contextlib.nullcontext(torch.device(device))) as dev:
        ctx = RunContext("tiny", SIZE, "cpu-quick", dev, work / device, show_progress=False,
                         cache_dir=work / f"features-{device}")
        det = DETECTORS.get(name)(TINY[name], ctx, seed=0)
        det.fit(train)
        preds = det.predict(test)
    assert preds.anomaly_maps.shape == (len(test), SIZE, SIZE) and np.isfinite(preds.anomaly_maps).all()
    if device == "fakegpu":
        assert fakegpu.ops_run > before, f"{name} did none of its work on the device"
        # the CPU's numbers up to float rounding: alone every detector matches bit for bit, but after
        # other tests residual-seg's Gaussian statistics came out ~2e-5 apart (kernel choice); a device
        # mistake raises, it does not round
        np.testing.assert_allclose(preds.image_scores, on_cpu.image_scores, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(preds.anomaly_maps, on_cpu.anomaly_maps, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(TINY))
def test_predict_before_fit_is_an_error(name, tiny_set, tmp_path):
    _, test = tiny_set
    det = DETECTORS.get(name)(TINY[name], RunContext("tiny", SIZE, work_dir=tmp_path, show_progress=False), seed=0)
    with pytest.raises(RuntimeError, match="fit"):
        det.predict(test)
