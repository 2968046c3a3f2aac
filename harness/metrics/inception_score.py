"""IS: torchmetrics' `InceptionScore` on torch-fidelity's InceptionV3 (uint8 in; it resizes to
299 internally with TF1-compatible bilinear), per defect type, then averaged over types.

Part of `harness.metrics.generation` (the entry point that runs every generation metric)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from harness.core.generator import AnomalyPair
from harness.metrics.result import MetricResult, group_by_type


def inception_score(images: Sequence[np.ndarray], feature_net: Any, *, splits: int = 1, seed: int = 0,
                    device: str = "cpu", batch_size: int = 16) -> tuple[float, float]:
    """(mean, std over splits) of torchmetrics' IS; `feature_net` maps uint8 NCHW to class logits."""
    import torch
    from torchmetrics.image.inception import InceptionScore

    metric = InceptionScore(feature=feature_net, splits=splits).to(device)
    for start in range(0, len(images), batch_size):
        batch = np.stack([np.asarray(im) for im in images[start:start + batch_size]])
        metric.update(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().to(device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # IS shuffles the features before splitting
        mean, std = metric.compute()
    return float(mean), float(std)


def load_inception(weights_dir: Path | None = None, *, download: bool = True, device: str = "cpu") -> Any:
    """torch-fidelity's InceptionV3 (logits_unbiased) from the known weight file; WeightError if absent."""
    import warnings

    from torchmetrics.image.fid import NoTrainInceptionV3

    from harness.weights import inception_weights_path

    path = inception_weights_path(weights_dir, download=download)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # antialias=False: torch-fidelity's own TF1-compatible bilinear resize to 299 (torchmetrics'
        # default antialiased resize differs from it when downsampling images larger than 299)
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["logits_unbiased"],
                                 feature_extractor_weights_path=str(path), antialias=False)
    return net.to(device)


def is_metric(generated: Sequence[AnomalyPair], feature_net: Any, *, splits: int = 10, min_per_split: int = 10,
              seed: int = 0, device: str = "cpu", weights: str = "") -> MetricResult:
    """IS per defect type (splits = min(splits, n // min_per_split), at least 1), mean over types."""
    per_type: dict[str, dict[str, float]] = {}
    for defect, pairs in group_by_type(generated).items():
        n_splits = max(1, min(splits, len(pairs) // min_per_split))
        mean, std = inception_score([p.image for p in pairs], feature_net, splits=n_splits, seed=seed, device=device)
        per_type[defect] = {"is": mean, "std": std, "n_images": len(pairs), "splits": n_splits}
    params = {"network": "torch-fidelity InceptionV3 (logits_unbiased), uint8 in, TF1-bilinear resize to 299",
              "weights": weights, "splits_max": splits, "min_images_per_split": min_per_split,
              "per_defect_type": per_type, "n_images": len(generated)}
    if not per_type:
        return MetricResult(None, "no generated images", params)
    return MetricResult(float(np.mean([v["is"] for v in per_type.values()])), None, params)
