"""Resumable training checkpoints of the diffusion generators: where they go, which file a fit
resumes from, and the fingerprints that keep a checkpoint from resuming a different run.

A fit's store key is its config, data, device and code (`source_fingerprint`); variants of one
generator that differ only in `steps` share a file (the longer continues the shorter, and the
shorter stays restorable beside it, `finished_copy`)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from harness.core.io import file_sha256

if TYPE_CHECKING:
    from harness.core import RunContext


def fingerprint(*parts: Any) -> str:
    """A stable hash of a run's config and data, to refuse resuming a different run's checkpoint."""
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(str((p.shape, p.dtype)).encode())
            h.update(np.ascontiguousarray(p).tobytes())
        elif isinstance(p, torch.Tensor):
            h.update(p.detach().cpu().contiguous().numpy().tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def source_fingerprint(*packages: str) -> str:
    """A hash of the `.py` sources of `packages` (import names, e.g. "generators.dhdiff").

    Part of a fit's store key: a fit's params, seed and data do not say which code trained it,
    and a store filled by older code was otherwise reused by newer code (a re-measured table then
    mixes two versions of the model). Any edit of these files means a fresh fit; so does an edit
    of sampling code in them, the price of not keeping a list of which functions train."""
    files: list[tuple[str, str]] = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f"source_fingerprint: {name!r} is not an importable package")
        files += [(f"{name}/{path.name}", file_sha256(path))
                  for folder in spec.submodule_search_locations for path in sorted(Path(folder).glob("*.py"))]
    return fingerprint(files)


def checkpoint_dir(context: RunContext) -> Path:
    """Where a generator's training checkpoints go: the run's store of fitted models when the
    harness gives one (`context.cache_dir`, shared by every augmented set of the run, so variants
    whose training fingerprints agree, e.g. differing only in sampling params, fit once), else the
    job's own `work_dir/checkpoints` (removed with it)."""
    if context.cache_dir is not None:
        return Path(context.cache_dir)
    return Path(context.work_dir) / "checkpoints"


def finished_copy(path: Path, steps: int) -> Path:
    """Where a finished fit of `steps` steps is kept when the store's file for its fingerprint
    holds a longer fit (variants of one generator that differ only in `steps`: the longer one
    continues the shorter, and both stay restorable, whichever ran first)."""
    return path.with_name(f"{path.stem}.step{steps}{path.suffix}")


def resume_point(path: Path, steps: int, run_fingerprint: str) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint to start from: a kept finished fit of exactly `steps`, else the store's file
    for the fingerprint (a shorter fit to continue, or a longer one: the caller keeps it)."""
    for source in (finished_copy(path, steps), path):
        if source.is_file():
            ckpt = torch.load(source, map_location="cpu", weights_only=True)
            if ckpt.get("fingerprint") == run_fingerprint:
                return source, ckpt
    return None


def keep(source: Path, copy: Path) -> None:
    """`copy` as a hard link to `source` (no disk until `source` is replaced; the atomic save
    renames a new file over it), or a plain copy where links do not work."""
    if copy.exists():
        return
    try:
        os.link(source, copy)
    except OSError:
        shutil.copy2(source, copy)


def model_state(model: nn.Module, trainable_only: bool) -> dict[str, torch.Tensor]:
    """What a checkpoint holds of `model`: every tensor, or (a pretrained backbone) the trainable ones."""
    state = model.state_dict()
    if not trainable_only:
        return state
    keep = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in state.items() if k in keep}
