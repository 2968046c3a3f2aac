"""Per-region overlap curves: AUPRO (MVTec AD) and sPRO (MVTec LOCO AD), computed exactly.

Why our own code: anomalib's AUPRO/sPRO clamp and normalise scores and approximate the
curve on a threshold grid; the papers' numbers come from the official evaluation scripts,
which we follow:

- AUPRO (Bergmann et al., CVPR 2019 / IJCV 2021, ``mvtec_ad_evaluation``): the regions
  are the 8-connected components of the (merged) ground truth; PRO(t) is the mean over
  all regions of the fraction of the region's pixels scored ≥ t; FPR(t) is taken over all
  defect-free pixels of all images; the curve is integrated (trapezoid) up to FPR 0.3,
  interpolating at 0.3, and divided by 0.3.
- sPRO (Bergmann et al., IJCV 2022, ``mvtec_loco_ad_evaluation``): a region is one
  ground-truth *file* (one defect, possibly several blobs); its overlap saturates:
  min(TP/s, 1) with s the saturation area (relative: s × defect area; absolute: s pixels,
  capped at the defect area); FPR(t) is pooled over the pixels of the defect-free images
  only; integrated up to FPR 0.05 and divided by 0.05.

Both curves are computed exactly — every distinct score is a threshold, as in the
official AUPRO code (one sort of all pixels and cumulative sums) — instead of the ~1000
subsampled thresholds of the official LOCO code; memory is a few arrays of N·H·W
(float32 scores, float64 increments, int64 sort order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

_EIGHT_CONNECTED = np.ones((3, 3), dtype=int)


def overlap_curve(scores: np.ndarray, fpr_inc: np.ndarray, pro_inc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FPR and overlap at every distinct threshold (descending), starting at (0, 0).

    Each entry of `scores` adds `fpr_inc` to the FPR and `pro_inc` to the overlap once the
    threshold reaches its score; ties enter together.
    """
    order = np.argsort(scores, kind="stable")[::-1]
    s = scores[order]
    fprs = np.cumsum(fpr_inc[order])
    pros = np.cumsum(pro_inc[order])
    keep = np.append(s[1:] != s[:-1], True)  # last entry of each run of equal scores
    fprs = np.clip(np.concatenate([[0.0], fprs[keep]]), 0.0, 1.0)
    pros = np.clip(np.concatenate([[0.0], pros[keep]]), 0.0, 1.0)
    return fprs, pros


def area_up_to(fprs: np.ndarray, pros: np.ndarray, max_fpr: float) -> float:
    """Normalised trapezoid area of the curve for FPR in [0, max_fpr] (interpolated at max_fpr)."""
    if fprs[-1] < max_fpr:
        raise ValueError(f"curve ends at FPR {fprs[-1]:.3g} < {max_fpr}: no defect-free pixels?")
    inside = fprs <= max_fpr
    x = fprs[inside]
    y = pros[inside]
    if x[-1] < max_fpr:
        i = int(np.argmax(fprs > max_fpr))
        x0, x1, y0, y1 = fprs[i - 1], fprs[i], pros[i - 1], pros[i]
        y_at = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
        x = np.append(x, max_fpr)
        y = np.append(y, y_at)
    return float(np.trapezoid(y, x) / max_fpr)


def aupro(anomaly_maps: np.ndarray, gt_masks: np.ndarray, max_fpr: float = 0.3) -> float:
    """Normalised area under the PRO curve up to `max_fpr` (MVTec AD definition).

    `anomaly_maps` (N, H, W) float, `gt_masks` (N, H, W) bool (merged masks; regions are
    their 8-connected components). NaN when there is no defect pixel.
    """
    maps = np.asarray(anomaly_maps, dtype=np.float32).ravel()
    gt = np.asarray(gt_masks, dtype=bool)
    if maps.size != gt.size:
        raise ValueError(f"anomaly maps {anomaly_maps.shape} and masks {gt_masks.shape} differ in size")
    n_ok = int((~gt).sum())
    if n_ok == 0 or not gt.any():
        return float("nan")
    # Every region adds 1/(n_regions * its size) per covered pixel: PRO = mean region overlap.
    labels_per_image = []
    n_regions = 0
    for i in range(gt.shape[0]):
        if gt[i].any():
            labeled, n = ndimage.label(gt[i], structure=_EIGHT_CONNECTED)
            labels_per_image.append((i, labeled.ravel()))
            n_regions += n
    pro_inc = np.zeros(gt.size, dtype=np.float64)
    per_image = gt[0].size
    for i, flat in labels_per_image:
        sizes = np.bincount(flat)
        idx = np.flatnonzero(flat)
        pro_inc[i * per_image + idx] = 1.0 / (n_regions * sizes[flat[idx]])
    fpr_inc = np.where(gt.ravel(), 0.0, 1.0 / n_ok)
    fprs, pros = overlap_curve(maps, fpr_inc, pro_inc)
    return area_up_to(fprs, pros, max_fpr)


@dataclass(frozen=True)
class Defect:
    """One ground-truth file of one image, with its saturation area in pixels."""

    image_index: int
    mask: np.ndarray  # (H, W) bool at the evaluation size
    saturation_pixels: float


def saturation_pixels(mask: np.ndarray, threshold: float, relative: bool, area_scale: float = 1.0) -> float:
    """The number of true-positive pixels at which a defect's overlap saturates at 1.

    Relative thresholds are fractions of the defect's area; absolute ones are pixels at
    the mask file's own resolution, rescaled by `area_scale` (evaluation pixels per file
    pixel) and capped at the defect area, as in the LOCO evaluation code.
    """
    area = float(mask.sum())
    if relative:
        return threshold * area
    return min(threshold * area_scale, area)


def spro(anomaly_maps: np.ndarray, defects: Sequence[Defect], good_images: Sequence[int],
         max_fpr: float = 0.05) -> float:
    """Mean saturated PRO integrated up to `max_fpr` (FPR over the good images' pixels), normalised.

    NaN without defects or good images. Empty defects (a mask file with no pixel at the
    evaluation size) are skipped.
    """
    maps = np.asarray(anomaly_maps, dtype=np.float32)
    defects = [d for d in defects if d.mask.any() and d.saturation_pixels > 0]
    good = sorted(set(int(i) for i in good_images))
    if not defects or not good:
        return float("nan")
    good_scores = maps[good].ravel()
    parts_s = [good_scores]
    parts_f = [np.full(good_scores.size, 1.0 / good_scores.size)]
    parts_p = [np.zeros(good_scores.size)]
    n = len(defects)
    for d in defects:
        s = maps[d.image_index][d.mask]
        s = np.sort(s, kind="stable")[::-1]
        k = np.arange(1, s.size + 1, dtype=np.float64)
        inc = (np.minimum(k / d.saturation_pixels, 1.0) - np.minimum((k - 1) / d.saturation_pixels, 1.0)) / n
        parts_s.append(s)
        parts_f.append(np.zeros(s.size))
        parts_p.append(inc)
    fprs, pros = overlap_curve(np.concatenate(parts_s), np.concatenate(parts_f), np.concatenate(parts_p))
    return area_up_to(fprs, pros, max_fpr)
