"""Every detection number we report, from raw predictions and the sample table.

Image level: AUROC and AP (scikit-learn), F1-max (best F1 over all thresholds of
scikit-learn's precision-recall curve). Pixel level, over every pixel of every test
image with the merged (``> 0``) masks at the run's size: AUROC, AP, F1-max, and AUPRO
up to FPR 0.3 (normalised; `harness.metrics.spro.aupro`, exact curve). ``spro`` (mean
sPRO up to FPR 0.05, MVTec LOCO) only when the table carries LOCO saturation settings,
i.e. some mask's ``mask_saturation`` differs from the plain-PRO default ``(1.0, True)``;
``spro_structural`` / ``spro_logical`` too when the table says which kind each image is.

A metric that cannot be defined (a single class present) is NaN, not a guess.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from harness.core.detector import Predictions
from harness.data.io import load_mask
from harness.metrics.spro import Defect, aupro, saturation_pixels, spro

PRO_MAX_FPR = 0.3
SPRO_MAX_FPR = 0.05
_PLAIN_PRO = (1.0, True)


def f1_max(labels: np.ndarray, scores: np.ndarray) -> float:
    """Best F1 over all thresholds (scikit-learn's precision-recall curve)."""
    labels = np.asarray(labels).ravel()
    if labels.min() == labels.max():
        return float("nan")
    precision, recall, _ = precision_recall_curve(labels, np.asarray(scores).ravel())
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(f1.max())


def _auroc_ap(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    if labels.min() == labels.max():
        return float("nan"), float("nan")
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def pixel_ap(maps: np.ndarray, masks: np.ndarray) -> float:
    """Pixel AP of anomaly maps against boolean masks, NaN when one class only (the validation
    fold's early-stopping score: AP alone, without the AUROC `_auroc_ap` also computes)."""
    labels = np.asarray(masks).ravel().astype(bool)
    if not labels.any() or labels.all():
        return float("nan")
    return float(average_precision_score(labels, np.asarray(maps).ravel()))


def ground_truth_masks(test: pd.DataFrame, image_size: int) -> np.ndarray:
    """(N, S, S) bool: each row's mask files merged with ``> 0`` (empty for normal rows)."""
    out = np.zeros((len(test), image_size, image_size), dtype=bool)
    for i, paths in enumerate(test["mask_paths"]):
        if paths is not None and len(paths):
            out[i] = load_mask(list(paths), image_size)
    return out


def _has_loco_saturation(test: pd.DataFrame) -> bool:
    if "mask_saturation" not in test.columns:
        return False
    for sats in test["mask_saturation"]:
        for sat in sats if sats is not None else []:
            if (float(sat[0]), bool(sat[1])) != _PLAIN_PRO:
                return True
    return False


def loco_defects(test: pd.DataFrame, image_size: int) -> list[tuple[Defect, str]]:
    """One `Defect` per mask file (with its anomaly kind), saturation rescaled to `image_size`."""
    defects = []
    kinds = test["anomaly_kind"] if "anomaly_kind" in test.columns else [""] * len(test)
    for i, (paths, sats, kind) in enumerate(zip(test["mask_paths"], test["mask_saturation"], kinds)):
        paths = list(paths) if paths is not None else []
        sats = list(sats) if sats is not None else []
        if len(sats) != len(paths):
            raise ValueError(
                f"{test['image_path'].iloc[i]}: {len(paths)} mask files but {len(sats)} saturation entries; "
                "the adapter must give one (threshold, relative) per mask file"
            )
        for path, (threshold, relative) in zip(paths, sats):
            with Image.open(path) as m:
                w, h = m.size
            mask = load_mask([path], image_size)
            scale = (image_size * image_size) / float(w * h)
            defects.append((Defect(i, mask, saturation_pixels(mask, float(threshold), bool(relative), scale)), kind))
    return defects


def compute_detection_metrics(test: pd.DataFrame, preds: Predictions, *, image_size: int) -> dict[str, float]:
    """All reported detection metrics for one (detector, test table) pair, from raw outputs."""
    n = len(test)
    scores = np.asarray(preds.image_scores, dtype=np.float64).ravel()
    maps = np.asarray(preds.anomaly_maps, dtype=np.float32)
    if scores.shape != (n,):
        raise ValueError(f"image_scores has shape {scores.shape}, expected ({n},) — one score per test row")
    if maps.shape != (n, image_size, image_size):
        raise ValueError(
            f"anomaly_maps has shape {maps.shape}, expected {(n, image_size, image_size)}; "
            "detectors must return maps at the run's image_size"
        )
    if not (np.isfinite(scores).all() and np.isfinite(maps).all()):
        raise ValueError("predictions contain NaN or inf; the detector diverged or failed")
    labels = test["label"].to_numpy().astype(int)

    out: dict[str, Any] = {}
    out["image_auroc"], out["image_ap"] = _auroc_ap(labels, scores)
    out["image_f1max"] = f1_max(labels, scores)

    gt = ground_truth_masks(test, image_size)
    pix_labels = gt.ravel()
    pix_scores = maps.ravel()
    out["pixel_auroc"], out["pixel_ap"] = _auroc_ap(pix_labels, pix_scores)
    out["pixel_f1max"] = f1_max(pix_labels, pix_scores)
    out["pixel_aupro"] = aupro(maps, gt, PRO_MAX_FPR)

    if _has_loco_saturation(test):
        defects = loco_defects(test, image_size)
        good = np.flatnonzero(labels == 0)
        out["spro"] = spro(maps, [d for d, _ in defects], good, SPRO_MAX_FPR)
        for kind in ("structural", "logical"):
            subset = [d for d, k in defects if k == kind]
            if subset:
                out[f"spro_{kind}"] = spro(maps, subset, good, SPRO_MAX_FPR)
    return {k: float(v) for k, v in out.items()}
