"""Average precision on the tensors' own device, as scikit-learn's `average_precision_score`.

Why ours: early stopping scores the validation fold's pixel maps every `eval_every` steps
(frozen-seg); with scikit-learn each evaluation copied millions of pixels to the host and sorted
them there, which on a GPU was most of a detector cell. Same definition as scikit-learn (one
precision-recall point per distinct score, AP = Σ (Rₖ − Rₖ₋₁)·Pₖ, float64 sums), checked against
it in `tests/harness/core/test_pixel_metrics.py`.
"""

from __future__ import annotations

import math

import torch


def average_precision(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """AP of `scores` (any shape) against boolean `labels` (same shape); NaN with one class only."""
    s = scores.detach().reshape(-1)
    y = labels.detach().reshape(-1).to(device=s.device, dtype=torch.bool)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.numel():
        return math.nan
    order = torch.argsort(s, descending=True, stable=True)
    s, y = s[order], y[order]
    tps = torch.cumsum(y, 0, dtype=torch.float64)
    # the last position of each run of equal scores: one curve point per distinct threshold
    last = torch.ones_like(y)
    last[:-1] = s[1:] != s[:-1]
    rank = torch.arange(1, y.numel() + 1, device=s.device, dtype=torch.float64)
    tps, seen = tps[last], rank[last]
    precision = tps / seen
    recall = tps / n_pos
    steps = torch.diff(recall, prepend=recall.new_zeros(1))
    return float((steps * precision).sum())
