"""Mask statistics of generated vs real anomalies, and mask–image consistency; no pretrained weights.

Per mask: area fraction (mask pixels / image pixels), connected-component count (8-connected,
`scipy.ndimage.label`), and the centroid of all mask pixels in image-relative coordinates
((row + 0.5) / H, (col + 0.5) / W; empty masks have none). Generated and real sets are compared
per statistic with the 1-D Wasserstein distance (`scipy.stats.wasserstein_distance`); the
position distance is the mean of the row and column distances.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

STATISTIC_DOC = {
    "area_fraction": "1-D Wasserstein distance of mask area fractions (mask pixels / image pixels)",
    "component_count": "1-D Wasserstein distance of 8-connected component counts per mask",
    "centroid": "mean of the 1-D Wasserstein distances of mask centroid row and column (image-relative, "
                "non-empty masks only)",
}

_EIGHT = np.ones((3, 3), dtype=bool)


def _check_mask(mask: np.ndarray, i: int) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask {i}: expected an HxW array, got shape {m.shape}")
    return m.astype(bool, copy=False)


def mask_statistics(masks: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Arrays: area_fraction, component_count (one per mask), centroid_row, centroid_col (non-empty only)."""
    from scipy import ndimage

    area, count, rows, cols = [], [], [], []
    for i, mask in enumerate(masks):
        m = _check_mask(mask, i)
        h, w = m.shape
        area.append(m.sum() / float(h * w))
        count.append(ndimage.label(m, structure=_EIGHT)[1])
        if m.any():
            r, c = np.nonzero(m)
            rows.append((r.mean() + 0.5) / h)
            cols.append((c.mean() + 0.5) / w)
    return {"area_fraction": np.asarray(area, float), "component_count": np.asarray(count, float),
            "centroid_row": np.asarray(rows, float), "centroid_col": np.asarray(cols, float)}


def summarise(stats: dict[str, np.ndarray]) -> dict[str, Any]:
    """Means (and counts) recorded next to the distances, so a distance can be read in context."""
    def mean(a: np.ndarray) -> float | None:
        return float(a.mean()) if a.size else None

    return {"n_masks": int(stats["area_fraction"].size),
            "n_empty": int(stats["area_fraction"].size - stats["centroid_row"].size),
            "mean_area_fraction": mean(stats["area_fraction"]),
            "mean_component_count": mean(stats["component_count"]),
            "mean_centroid_row": mean(stats["centroid_row"]), "mean_centroid_col": mean(stats["centroid_col"])}


def statistic_distances(gen: dict[str, np.ndarray], real: dict[str, np.ndarray]
                        ) -> dict[str, tuple[float | None, str | None]]:
    """{statistic: (distance, None)} or (None, reason) when a side has nothing to compare."""
    from scipy.stats import wasserstein_distance

    out: dict[str, tuple[float | None, str | None]] = {}
    for stat in ("area_fraction", "component_count"):
        a, b = gen[stat], real[stat]
        if a.size == 0 or b.size == 0:
            out[stat] = (None, f"no {'generated' if a.size == 0 else 'real'} masks to compare")
        else:
            out[stat] = (float(wasserstein_distance(a, b)), None)
    if gen["centroid_row"].size == 0 or real["centroid_row"].size == 0:
        side = "generated" if gen["centroid_row"].size == 0 else "real"
        out["centroid"] = (None, f"no non-empty {side} masks, so no centroid positions to compare")
    else:
        d_row = wasserstein_distance(gen["centroid_row"], real["centroid_row"])
        d_col = wasserstein_distance(gen["centroid_col"], real["centroid_col"])
        out["centroid"] = (float((d_row + d_col) / 2.0), None)
    return out


def _unpack(item: Any, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if len(item) == 3:
        canvas, image, mask = item
    elif len(item) == 2:  # (canvas, AnomalyPair)
        canvas, pair = item
        image, mask = pair.image, pair.mask
    else:
        raise ValueError(f"item {i}: expected (canvas, image, mask) or (canvas, AnomalyPair), got {len(item)} values")
    canvas, image, mask = np.asarray(canvas), np.asarray(image), np.asarray(mask)
    if canvas.shape != image.shape or image.ndim != 3 or mask.shape != image.shape[:2]:
        raise ValueError(f"item {i}: canvas {canvas.shape}, image {image.shape} and mask {mask.shape} must be "
                         "HxWx3, HxWx3 and HxW of the same size (pass the canvas the generator painted on)")
    return canvas, image, mask.astype(bool, copy=False)


def mask_image_consistency(triples: Sequence[Any], *, tolerance: int = 0) -> dict[str, Any]:
    """Pooled over images: changed pixels (any channel differs from the canvas by > `tolerance`).

    mask_precision = changed ∩ mask / changed (1.0: the generator only touched its mask);
    mask_coverage = changed ∩ mask / mask (1.0: every mask pixel was actually changed).
    """
    changed_total = inside_total = mask_total = 0
    for i, item in enumerate(triples):
        canvas, image, mask = _unpack(item, i)
        changed = (np.abs(image.astype(np.int16) - canvas.astype(np.int16)) > tolerance).any(axis=2)
        changed_total += int(changed.sum())
        inside_total += int((changed & mask).sum())
        mask_total += int(mask.sum())
    return {"mask_precision": inside_total / changed_total if changed_total else None,
            "mask_coverage": inside_total / mask_total if mask_total else None,
            "n_images": len(triples), "changed_pixels": changed_total, "mask_pixels": mask_total}
