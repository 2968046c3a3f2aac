"""One-class anomaly maps on frozen feature tensors: what `residual-seg` starts from.

Why our own and not anomalib's PaDiM / PatchCore: those run their own backbone on images; here
the features are already computed and cached (`detectors.feature_cache`, the tensors
`frozen-seg` trains on), and the maps of the *training* normals must be honest — a normal
scored by statistics fitted on itself looks more normal than any test normal (PaDiM's in-sample
Mahalanobis distance is biased low; PatchCore's nearest neighbour of a bank patch is itself).
`cross_fitted_maps` therefore scores each fold of normals with statistics fitted on the other
folds, so the head that learns on top of these maps sees normals the way it will see test ones.

Two statistics, both on a seeded random channel subset (PaDiM's `n_features`):
- `GaussianMap`: a Gaussian per feature position (PaDiM, Defard et al. 2021): Mahalanobis
  distance with the covariance regularised by `eps`·I;
- `NearestNeighbourMap`: distance to the nearest patch of a memory bank of normal patches
  (PatchCore, Roth et al. 2022), 3×3-averaged patches as PatchCore's (zero padding counted, as
  anomalib's `AvgPool2d`), the bank a seeded random
  subset (PatchCore's greedy coreset costs more than the rest of a CPU fit).
Every tensor is built on the features' device; draws use a CPU generator and are moved (the
same channels and bank rows on every device).
"""

from __future__ import annotations

from typing import Literal, Protocol

import torch
import torch.nn.functional as F

OneClassKind = Literal["gaussian", "knn"]


class OneClassMap(Protocol):
    def fit(self, normals: torch.Tensor) -> "OneClassMap": ...

    def score(self, feats: torch.Tensor) -> torch.Tensor: ...


def channel_subset(n_channels: int, n_features: int | None, seed: int, device: torch.device) -> torch.Tensor:
    """Sorted indices of `n_features` channels drawn with `seed` (all channels when None or too many)."""
    if n_features is None or n_features >= n_channels:
        return torch.arange(n_channels, device=device)
    cpu = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n_channels, generator=cpu)[:n_features].sort().values.to(device)


class GaussianMap:
    """Mahalanobis distance to a Gaussian fitted per feature position (PaDiM)."""

    def __init__(self, eps: float = 0.01):
        self.eps = eps
        self.mean: torch.Tensor | None = None
        self.precision: torch.Tensor | None = None

    def fit(self, normals: torch.Tensor) -> "GaussianMap":
        n, c, h, w = normals.shape
        x = normals.flatten(2).permute(2, 0, 1)  # (P, N, C)
        self.mean = x.mean(1)  # (P, C)
        d = x - self.mean[:, None]
        cov = d.transpose(1, 2) @ d / max(n - 1, 1)
        cov = cov + self.eps * torch.eye(c, device=normals.device, dtype=normals.dtype)
        self.precision = torch.cholesky_inverse(torch.linalg.cholesky(cov))
        self.shape = (h, w)
        return self

    def score(self, feats: torch.Tensor, batch: int = 32) -> torch.Tensor:
        """(N, C, h, w) → (N, h, w) distances."""
        out = []
        for i in range(0, len(feats), batch):
            d = feats[i:i + batch].flatten(2).permute(2, 0, 1) - self.mean[:, None]  # (P, B, C)
            m = ((d @ self.precision) * d).sum(-1).clamp_min(0).sqrt()  # (P, B)
            out.append(m.T.reshape(-1, *feats.shape[-2:]))
        return torch.cat(out)


class NearestNeighbourMap:
    """Distance of each (3×3-averaged) patch to its nearest neighbour in a bank of normal patches."""

    def __init__(self, bank_fraction: float = 0.1, seed: int = 0, chunk: int = 1024):
        self.bank_fraction, self.seed, self.chunk = bank_fraction, seed, chunk
        self.bank: torch.Tensor | None = None

    @staticmethod
    def patches(feats: torch.Tensor) -> torch.Tensor:
        """PatchCore's local aggregation: `nn.AvgPool2d(3, 1, 1)` as anomalib's, zero padding
        counted (border patches shrink toward 0). Counting only the real neighbours scored lower
        on the validation folds of five of the six acceptance sets, equal on the sixth
        (docs/detectors.md)."""
        return F.avg_pool2d(feats, 3, stride=1, padding=1, count_include_pad=True)

    def fit(self, normals: torch.Tensor) -> "NearestNeighbourMap":
        rows = self.patches(normals).permute(0, 2, 3, 1).reshape(-1, normals.shape[1])
        keep = max(1, round(self.bank_fraction * len(rows)))
        if keep < len(rows):
            cpu = torch.Generator().manual_seed(int(self.seed))
            rows = rows[torch.randperm(len(rows), generator=cpu)[:keep].sort().values.to(rows.device)]
        self.bank = rows
        self.bank_sq = (rows * rows).sum(1)
        return self

    def score(self, feats: torch.Tensor) -> torch.Tensor:
        n, c, h, w = feats.shape
        q = self.patches(feats).permute(0, 2, 3, 1).reshape(-1, c)
        out = []
        for i in range(0, len(q), self.chunk):
            part = q[i:i + self.chunk]
            # ‖a − b‖² = ‖a‖² + ‖b‖² − 2ab, the matrix product instead of a (chunk, bank, C) difference
            d2 = (part * part).sum(1, keepdim=True) + self.bank_sq[None] - 2 * part @ self.bank.T
            out.append(d2.amin(1).clamp_min(0).sqrt())
        return torch.cat(out).reshape(n, h, w)


def make_map(kind: OneClassKind, *, eps: float, bank_fraction: float, seed: int) -> OneClassMap:
    if kind == "gaussian":
        return GaussianMap(eps)
    if kind == "knn":
        return NearestNeighbourMap(bank_fraction, seed)
    raise ValueError(f"unknown one-class statistic '{kind}'; use gaussian or knn")


def cross_fitted_maps(normals: torch.Tensor, kind: OneClassKind, *, folds: int, eps: float, bank_fraction: float,
                      seed: int) -> torch.Tensor:
    """Maps of the normals themselves, each fold scored by statistics fitted on the other folds."""
    n = len(normals)
    if n < 2:
        raise ValueError(f"one-class maps of the normals need >= 2 normal images to cross-fit; got {n}")
    folds = max(2, min(folds, n))
    fold_of = torch.arange(n, device=normals.device) % folds
    out = torch.empty(n, *normals.shape[-2:], device=normals.device, dtype=normals.dtype)
    for k in range(folds):
        held = fold_of == k
        stats = make_map(kind, eps=eps, bank_fraction=bank_fraction, seed=seed + k).fit(normals[~held])
        out[held] = stats.score(normals[held])
    return out
