"""On-object fraction: the share of mask area on the object (`harness.core.foreground`, the estimate
object-aware placement and DH-Diff use), for the generated masks and, as the reference, for the real
generator-train masks; unavailable for a texture (no object)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

import numpy as np

from harness.core.generator import AnomalyPair
from harness.metrics.result import MetricResult


OBJECT_KEYS = ("mask_on_object", "mask_on_object_real")


def _on_object(pairs: Sequence[AnomalyPair], estimate: Any, has_object: bool, found_share: float
               ) -> tuple[float | None, str | None, dict[str, Any]]:
    """Pooled share of the pairs' mask pixels on the object, with per-defect-type shares.

    The object of each image is estimated on the image itself with its mask ignored (the masked
    pixels filled from their surroundings, `harness.core.foreground`), so a defect painted on the
    background does not make itself "object"; an image that does not split takes the set's
    object mask (per-pixel majority over the images that did)."""
    from harness.core.foreground import estimate_foreground, on_object_fraction

    params: dict[str, Any] = {"n_masks": len(pairs), "pooling": "mask pixels on the object / all mask pixels",
                              "object": "harness.core.foreground (border-colour distance, Otsu), mask ignored",
                              "object_found_share": round(estimate.found_share, 4),
                              "object_found_share_both_sets": round(found_share, 4)}
    if not pairs:
        return None, "no masks", params
    if not has_object:
        return None, (f"no object/background split in {1 - found_share:.0%} of the generated and real images (a "
                      "texture or a full-frame object): every position is on the object"), params
    masks = [np.asarray(p.mask, dtype=bool) for p in pairs]
    fallback = estimate.set_mask if estimate.frequency is not None else None
    regions = []
    for p, m in zip(pairs, masks):
        own = estimate_foreground(p.image, m)
        regions.append(own if own is not None else
                       (fallback if fallback is not None and fallback.shape == m.shape else np.zeros_like(m)))
    params["per_defect_type"] = {
        t: on_object_fraction([masks[i] for i in idx], [regions[i] for i in idx])
        for t, idx in sorted(_indices_by_type(pairs).items())}
    value = on_object_fraction(masks, regions)
    return value, (None if value is not None else "every mask is empty"), params


def _indices_by_type(pairs: Sequence[AnomalyPair]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pairs):
        out[p.defect_type].append(i)
    return out


def on_object_metrics(generated: Sequence[AnomalyPair], real_train: Sequence[AnomalyPair]) -> dict[str, MetricResult]:
    """"mask_on_object": share of the generated mask area on the object; "mask_on_object_real":
    the same for the real generator-train masks (the reference: where real defects lie)."""
    from harness.core.foreground import MIN_FOUND_SHARE, fit_object

    sets = (("mask_on_object", generated), ("mask_on_object_real", real_train))
    estimates = {k: fit_object([p.image for p in ps], [p.mask for p in ps], max_images=len(ps)) for k, ps in sets}
    # one decision for both sets (is there an object at all?), so the value and its reference agree
    n = sum(e.n_images for e in estimates.values())
    share = sum(e.found_share * e.n_images for e in estimates.values()) / n if n else 0.0
    has_object = share >= MIN_FOUND_SHARE
    out: dict[str, MetricResult] = {}
    for key, pairs in sets:
        est = estimates[key]
        if est.frequency is None:  # this set never split: the other set's object mask for its images
            est = next(iter(e for e in estimates.values() if e.frequency is not None), est)
        value, reason, params = _on_object(pairs, est, has_object, share)
        out[key] = MetricResult(value, reason, params)
    return out
