"""Frozen-backbone features computed once per image set and kept on disk.

A supervised head on a frozen ImageNet backbone spends almost all of its time in the
backbone if features are recomputed every step; computed once, a head step costs
milliseconds and thousands of steps fit a CPU budget. The cache key covers everything
the features depend on: the bytes of every image (sha256, in order — so a changed
augmented set recomputes), the backbone and its weights, the layers and the input size.

Two uses:
- `FeatureCache.features`: a whole image set through a `FrozenExtractor` at once (our own
  `frozen-seg` detector);
- `CachedModule`: wraps a feature module inside an anomalib model (SuperSimpleNet's
  `UpscalingFeatureExtractor`) and memoises its output per input tensor, so anomalib's own
  training loop computes each image's features once; its memo is saved under the same kind
  of key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from harness.core.io import file_sha256
from harness.core.fsio import atomic_path

log = logging.getLogger(__name__)

#: Bump when what is cached (or how it is computed) changes.
CACHE_VERSION = 1


def cache_key(image_hashes: Sequence[str], *, backbone: str, layers: Sequence[str], input_size: int,
              weights: str, extra: dict | None = None) -> str:
    """Stable key of a feature set: image bytes in order, backbone + weights, layers, size."""
    blob = json.dumps({"v": CACHE_VERSION, "images": list(image_hashes), "backbone": backbone, "layers": list(layers),
                       "input_size": int(input_size), "weights": weights, "extra": extra or {}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def weights_identity(backbone_weights: str | Path | None) -> str:
    """What identifies the backbone's weights: a local file by its hash, else the packaged/hub default."""
    if backbone_weights:
        return f"file:{file_sha256(backbone_weights)}"
    return "default"


def _save_atomic(obj, path: Path) -> None:
    with atomic_path(path, what="a feature cache file") as tmp:
        torch.save(obj, tmp)


class FeatureCache:
    """A folder of feature files, one per key; `hits`/`misses` count what happened (tests, logs)."""

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path | None:
        return self.root / f"{key}.pt" if self.root is not None else None

    def load(self, key: str):
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 — a damaged cache file is recomputed, never trusted
            log.warning("feature cache %s unreadable; recomputing", path)
            return None

    def store(self, key: str, value) -> None:
        path = self.path(key)
        if path is not None:
            _save_atomic(value, path)

    def features(self, key: str, compute: Callable[[], dict[str, torch.Tensor]],
                 valid: Callable[[Any], bool] = lambda _: True) -> dict[str, torch.Tensor]:
        """The cached tensors under `key`, computing and storing them on a miss (or an invalid file)."""
        cached = self.load(key)
        if cached is not None and valid(cached):
            self.hits += 1
            return cached
        if cached is not None:
            log.warning("feature cache %s does not hold what its key says; recomputing", self.path(key))
        self.misses += 1
        value = compute()
        self.store(key, value)
        return value


def tensor_digest(t: torch.Tensor) -> str:
    """Content hash of one input tensor (same preprocessing → same bytes → same key)."""
    return hashlib.blake2b(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes(), digest_size=16).hexdigest()


class CachedModule(nn.Module):
    """Memoises a frozen module's output per input image (batch rows hashed one by one).

    The wrapped module must be deterministic and frozen (no grad, eval mode): anomalib's
    SuperSimpleNet feature extractor is both. Rows seen before are looked up; new rows are
    computed in one batch. `save`/`load` persist the memo under a `FeatureCache` key.
    """

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.memo: dict[str, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        keys = [tensor_digest(x) for x in images]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        if todo:
            with torch.no_grad():
                out = self.inner(images[todo])
            for i, feats in zip(todo, out):
                self.memo[keys[i]] = feats.detach().cpu()
        self.misses += len(todo)
        self.hits += len(keys) - len(todo)
        return torch.stack([self.memo[k] for k in keys]).to(images.device)

    def state(self) -> dict[str, torch.Tensor]:
        keys = sorted(self.memo)
        return {"keys": torch.tensor(np.frombuffer(bytes.fromhex("".join(keys)), np.uint8).reshape(len(keys), 16).copy()),
                "values": torch.stack([self.memo[k] for k in keys]) if keys else torch.empty(0)}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        raw = state["keys"].numpy()
        self.memo.update({bytes(row).hex(): v for row, v in zip(raw, state["values"])})
