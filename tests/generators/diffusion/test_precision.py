"""bf16 autocast (the diffusion generators' default on CUDA) does not change results: a tiny grid
trained and sampled in bf16 scores within 0.005 of the same grid in fp32. Run here with CPU
autocast (CUDA's default is `precision: auto`; CPU runs stay fp32 unless asked)."""

from __future__ import annotations

import pytest
import torch

from harness.cells import CellStore
from harness.config import validate_spec
from harness.pipeline import run_experiment

STEPS = 20


def _grid(tmp_path, precision: str):
    tiny = dict(resolution=32, steps=STEPS, batch_size=4, sample_steps=4, sample_batch=8, checkpoint_every=STEPS,
                precision=precision, window=1.0, second_pass=False, mask_sketch=0.0)
    spec = validate_spec({
        "name": f"precision-{precision}", "profile": "cpu-quick", "seeds": [0], "image_size": 64, "device": "cpu",
        "output_dir": str(tmp_path / precision), "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
        "generation": {"n_samples": 12, "quality_metrics": False},
        "generators": [{"name": "dhdiff", "params": tiny}],
        "detectors": [{"name": "frozen-seg", "params": {"max_steps": 100, "eval_every": 25}}]})
    assert run_experiment(spec, show_progress=False, echo=lambda m: None).failed == []
    (record,) = CellStore(spec.run_dir).records()
    (fit,) = (spec.run_dir / "fits").glob("dhdiff-*.pt")
    return record.metrics, torch.load(fit, weights_only=True)["losses"]


@pytest.mark.slow
def test_bf16_scores_within_0_005_of_fp32(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fp32, fp32_losses = _grid(tmp_path, "fp32")
        bf16, bf16_losses = _grid(tmp_path, "bf16")
    finally:
        torch.set_num_threads(threads)
    assert fp32_losses != bf16_losses, "bf16 autocast did not change the arithmetic: it was not on"
    torch.testing.assert_close(torch.tensor(bf16_losses), torch.tensor(fp32_losses), rtol=0.05, atol=1e-3)
    for name in ("image_auroc", "image_ap", "pixel_auroc", "pixel_ap", "pixel_aupro"):
        assert abs(bf16[name] - fp32[name]) <= 0.005, (name, fp32[name], bf16[name])
