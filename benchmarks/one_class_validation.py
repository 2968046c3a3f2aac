"""Validation-fold pixel AP of residual-seg's one-class statistics next to PatchCore's and PaDiM's.

    python benchmarks/one_class_validation.py experiments/signal_mvtec_ad.yaml \\
        experiments/residual_seg_builtin.yaml [--categories welding screw_bag] [--references]

Splits every (category, seed) of the specs as `bench run` does and scores, on the **validation
fold only** (real anomalies carved from generator-train + validation normals; the test role is
never loaded), the one-class maps residual-seg can start from, on its own cached features
(the specs' `runs/<name>/features` when there, else computed):

- `gaussian`: PaDiM's statistic on the seeded 100-channel subset (residual-seg's default one);
- `knn`: PatchCore's nearest-neighbour statistic as residual-seg computes it (3×3 patches with
  zero padding counted, as anomalib's `AvgPool2d(3, 1, 1)`, distances in the backbone's own
  units on the same channel subset);
- `knn-standardised`: the same on the per-channel standardised features (the version before
  the second change of 2026-12-07);
- `knn-nopad`: `knn` with only real neighbours averaged at the border (the version before the
  first change of 2026-12-07);
- `knn-all`: `knn` on all channels instead of the subset;
- with `--references`, anomalib's PatchCore and PaDiM themselves fitted on the same normals
  (slower: two fits per seed).

Why: which statistic residual-seg starts from was chosen on these numbers (docs/detectors.md,
"Which one-class statistic"), never on test; this prints them again for any spec.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.config import load_spec  # noqa: E402
from harness.core import DETECTORS, RunContext, TrainSet  # noqa: E402
from harness.core.io import load_mask  # noqa: E402
from harness.core.pixel_metrics import average_precision  # noqa: E402
from harness.data.split import few_shot_split  # noqa: E402
from harness.jobs import SeedSplit, seed_data  # noqa: E402
from harness.pipeline import load_tables  # noqa: E402


class _BorderNeighbours:
    """`NearestNeighbourMap` averaging only the real neighbours at the border (the earlier version)."""

    @staticmethod
    def patches(feats: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(feats, 3, stride=1, padding=1, count_include_pad=False)


def statistic_aps(train: TrainSet, spec, category: str, seed: int, work: Path) -> dict[str, float]:
    """The candidates through residual-seg's own code (`_candidate`, `OneClassModel`, `_map_ap`):
    what this prints for `gaussian` and `knn` is what the detector's `auto` compares."""
    from detectors.one_class_maps import NearestNeighbourMap, channel_subset
    from detectors.residual_seg import OneClassModel, ResidualSegmenter

    class NoPad(_BorderNeighbours, NearestNeighbourMap):
        pass

    ctx = RunContext(category, spec.image_size, spec.profile, "cpu", work / "w", False, spec.run_dir / "features")
    det = ResidualSegmenter(None, ctx, seed=seed)
    p = det.params
    raw = det.features(list(train.normal))
    det._stats = (raw.mean(dim=(0, 2, 3), keepdim=True), raw.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6))
    normals = det._standardise(raw)
    val, masks = det._validation_set(train)
    ch = channel_subset(normals.shape[1], p.n_features, seed, normals.device)

    def variant(stats, channels: torch.Tensor, units) -> float:
        model = OneClassModel("knn", channels, units=units)
        model.stats = stats.fit(model.inputs(normals))
        return det._map_ap(model.raw(val), masks)

    return {
        "gaussian": det._map_ap(det._candidate("gaussian", normals, ch).raw(val), masks),
        "knn": det._map_ap(det._candidate("knn", normals, ch).raw(val), masks),
        "knn-standardised": variant(NearestNeighbourMap(p.bank_fraction, seed), ch, None),
        "knn-nopad": variant(NoPad(p.bank_fraction, seed), ch, det._stats),
        "knn-all": variant(NearestNeighbourMap(p.bank_fraction, seed), torch.arange(normals.shape[1]), det._stats),
    }


def reference_aps(train: TrainSet, spec, category: str, seed: int, work: Path) -> dict[str, float]:
    size = spec.image_size
    masks = torch.as_tensor(np.stack([load_mask(list(r.mask_paths), size) for r in train.validation.itertuples()]))
    out = {}
    for name in ("patchcore", "padim"):
        ctx = RunContext(category, size, spec.profile, "cpu", work / name, False, work / "features")
        det = DETECTORS.get(name)(None, ctx, seed=seed)
        det.fit(TrainSet(normal=train.normal))
        maps = torch.as_tensor(det.predict(train.validation).anomaly_maps)
        out[name] = average_precision(maps, masks)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="+", type=Path)
    ap.add_argument("--categories", nargs="*", help="only these categories")
    ap.add_argument("--references", action="store_true", help="also anomalib's PatchCore and PaDiM on the same fold")
    ap.add_argument("--work", type=Path, default=Path("/tmp/one_class_validation"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    import detectors  # noqa: F401 - registers the plug-ins

    rows = []
    for spec_path in args.specs:
        spec = load_spec(spec_path)
        for sl in load_tables(spec):
            if args.categories and sl.category not in args.categories:
                continue
            for seed in spec.seeds:
                split = few_shot_split(sl.table, fraction=spec.split.generator_fraction, seed=seed,
                                       validation_fraction=spec.split.validation_fraction,
                                       validation_normal_fraction=spec.split.validation_normal_fraction)
                data = seed_data(SeedSplit(sl.dataset, sl.category, sl.fp, seed, split), spec.image_size)
                if data.validation is None or not (data.validation["label"] == 1).any():
                    print(f"{sl.category} seed {seed}: no validation anomalies; skipped")
                    continue
                train = TrainSet(normal=[Path(x) for x in data.normal_rows["image_path"]],
                                 validation_normal=data.validation_paths, validation=data.validation)
                work = args.work / sl.category / f"seed{seed}"
                row = {"category": sl.category, "seed": seed,
                       **statistic_aps(train, spec, sl.category, seed, work)}
                if args.references:
                    row.update(reference_aps(train, spec, sl.category, seed, work))
                rows.append(row)
                print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                      flush=True)
    df = pd.DataFrame(rows)
    if df.empty:
        return
    means = df.groupby("category").mean(numeric_only=True).drop(columns="seed")
    print("\nvalidation-fold pixel AP, mean over seeds")
    print(means.round(3).to_markdown())
    print("\nmean over categories: " + ", ".join(f"{k} {v:.3f}" for k, v in means.mean().items()))


if __name__ == "__main__":
    main()
