"""The device-side AP (frozen-seg's early-stopping score) equals scikit-learn's, ties included."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from harness.core import fakegpu
from harness.core.pixel_metrics import average_precision


@pytest.mark.parametrize("levels", [None, 7, 2])  # continuous scores, many ties, two values only
def test_equals_scikit_learn(levels):
    rng = np.random.default_rng(0)
    labels = rng.random((3, 32, 32)) < 0.05
    scores = rng.random((3, 32, 32)).astype(np.float32) + labels * 0.3
    if levels:
        scores = np.round(scores * levels) / levels
    ours = average_precision(torch.from_numpy(scores), torch.from_numpy(labels))
    assert ours == pytest.approx(average_precision_score(labels.ravel(), scores.ravel()), abs=1e-12)


def test_perfect_and_single_class():
    labels = torch.tensor([0, 0, 1, 1], dtype=torch.bool)
    assert average_precision(torch.tensor([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert math.isnan(average_precision(torch.rand(4), torch.zeros(4, dtype=torch.bool)))
    assert math.isnan(average_precision(torch.rand(4), torch.ones(4, dtype=torch.bool)))


def test_runs_where_the_tensors_are():
    """On an accelerator the sort stays there: the fake GPU refuses a host/device mix."""
    rng = np.random.default_rng(1)
    labels = rng.random(500) < 0.1
    scores = rng.random(500).astype(np.float32)
    want = average_precision_score(labels, scores)
    with fakegpu.fake_gpu() as dev:
        got = average_precision(torch.from_numpy(scores).to(dev), torch.from_numpy(labels).to(dev))
    assert got == pytest.approx(want, abs=1e-12)
