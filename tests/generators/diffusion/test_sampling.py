"""Sampling helpers: the sketches the mask strand can start from."""

from __future__ import annotations

import numpy as np
import torch

from generators.diffusion.sampling import flip_in_box


def test_flip_in_box_keeps_the_box_and_area_and_draws_every_flip():
    mask = torch.zeros(1, 12, 12)
    mask[0, 2:5, 6:10] = 1
    mask[0, 2, 6] = 0  # an L-ish shape: each flip is a different mask
    ys, xs = torch.nonzero(mask[0] > 0, as_tuple=True)
    box = (ys.min(), ys.max(), xs.min(), xs.max())
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        out = flip_in_box(mask, rng)
        oy, ox = torch.nonzero(out[0] > 0, as_tuple=True)
        assert (oy.min(), oy.max(), ox.min(), ox.max()) == box and out.sum() == mask.sum()
        seen.add(tuple(out.flatten().tolist()))
    assert len(seen) == 4
    assert torch.equal(flip_in_box(torch.zeros(1, 4, 4), rng), torch.zeros(1, 4, 4))
