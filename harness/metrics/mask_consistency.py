"""Mask–image consistency of an inpainting or pasting generator: do the pixels it changed lie in
the mask it reports? (`harness.metrics.mask_stats.mask_image_consistency`)."""

from __future__ import annotations

import math
from typing import Any, Sequence


from harness.metrics import mask_stats
from harness.metrics.result import MetricResult


def mask_consistency_metrics(triples: Sequence[Any], *, tolerance: int = 0) -> dict[str, MetricResult]:
    """Mask–image consistency of an inpainting/pasting generator, from (canvas, image, mask) triples.

    "mask_precision": fraction of changed pixels (vs the canvas) inside the mask;
    "mask_coverage": fraction of mask pixels that changed. (canvas, AnomalyPair) pairs work too.
    """
    c = mask_stats.mask_image_consistency(triples, tolerance=tolerance)
    params = {"tolerance": tolerance, "n_images": c["n_images"], "changed_pixels": c["changed_pixels"],
              "mask_pixels": c["mask_pixels"]}
    out = {}
    for key in ("mask_precision", "mask_coverage"):
        v = c[key]
        reason = None
        if v is None or (isinstance(v, float) and math.isnan(v)):
            v = None
            reason = ("no pixel differs from its canvas" if key == "mask_precision" else "all masks are empty")
        out[key] = MetricResult(v, reason, params)
    return out
