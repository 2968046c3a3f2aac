"""Training curves of the supervised detectors on the validation fold: where their cpu-quick budgets come from.

    python benchmarks/detector_curves.py --dataset mvtec_ad --root ../shared/data/hazelnut_toy_otx \\
        [--category hazelnut] [--generator cutpaste] [--detectors frozen-seg supersimplenet] \\
        [--steps 1000] [--every 50] [--seed 0] [--threads 1]

Splits the category as `bench run` does (few-shot split with the default validation fold:
real anomalies held out from the generator + validation normals; the test role is never
loaded), fits the generator on generator-train data, then trains each detector for `--steps`
steps without early stopping, scoring the validation fold every `--every` steps. Prints per
detector: step, mean training loss, validation pixel AP, seconds so far; then the first step
whose val pixel AP is within 95 % of the curve's best (the "knee") and the best step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.augmented import write_augmented  # noqa: E402
from harness.config import SplitSpec  # noqa: E402
from harness.data.split import few_shot_split  # noqa: E402
from harness.jobs import _SeedData, sample_pairs  # noqa: E402
from harness.core import RunContext  # noqa: E402
from harness.core import DATASETS, DETECTORS, GENERATORS  # noqa: E402

#: each detector's name for "train this many steps" (and its epochs cap, lifted here)
STEP_PARAMS = {"frozen-seg": {}, "supervised-seg": {"epochs": 100000}, "draem": {"epochs": 100000},
               "supersimplenet": {"epochs": 100000}, "glass": {"epochs": 100000}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="builtin")
    ap.add_argument("--root", default=None)
    ap.add_argument("--category", default=None, help="default: the adapter's first category")
    ap.add_argument("--generator", default="cutpaste")
    ap.add_argument("--detectors", nargs="*", default=["frozen-seg", "supersimplenet", "supervised-seg", "draem"])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--n-samples", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    adapter = DATASETS.get(args.dataset)(args.root, {}, image_size=args.size)
    category = args.category or adapter.categories()[0]
    fold = SplitSpec()
    split = few_shot_split(adapter.load(category), fraction=fold.generator_fraction, seed=args.seed,
                           validation_fraction=fold.validation_fraction,
                           validation_normal_fraction=fold.validation_normal_fraction)
    data = _SeedData(split, args.size)
    val = data.validation
    print(f"{args.dataset}/{category} seed {args.seed}: {len(data.normals)} normal train, "
          f"{len(data.generator_pairs)} generator-train anomalies, validation {int((val.label == 1).sum())} anomalous + "
          f"{int((val.label == 0).sum())} normal; generator {args.generator}; {args.threads} threads")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ctx = RunContext(category, args.size, "cpu-quick", "cpu", root / "gen", False, root / "features")
        gen = GENERATORS.get(args.generator)({}, ctx)
        real = data.generator_pairs if (gen.needs_real_anomalies or gen.conditions_on_defect_type) else []
        gen.fit(data.normals, real, seed=args.seed)
        pairs = sample_pairs(gen, data, args.n_samples, args.seed)
        aug = write_augmented(root / "aug", normal_images=data.normals, normal_sources=list(data.normal_rows["image_path"]),
                              pairs=pairs, generator_train_sources=[], info={})
        train = aug.train_set(data.validation_paths, val)
        for name in args.detectors:
            params = {**STEP_PARAMS.get(name, {}), "max_steps": args.steps, "eval_every": args.every, "patience": 0}
            ctx = RunContext(category, args.size, "cpu-quick", "cpu", root / "work" / name, False, root / "features")
            det = DETECTORS.get(name)(params, ctx, seed=args.seed)
            t0 = time.perf_counter()
            det.fit(train)
            seconds = time.perf_counter() - t0
            curve = [c for c in det.training_curve if "val_pixel_ap" in c]
            print(f"\n{name}: {seconds:.0f} s for {args.steps} steps")
            print(f"{'step':>6s} {'train loss':>11s} {'val P-AP':>9s}")
            for c in curve:
                print(f"{c['step']:6d} {c['train_loss']:11.4f} {c['val_pixel_ap']:9.3f}")
            if curve:
                best = max(curve, key=lambda c: c["val_pixel_ap"])
                knee = next(c for c in curve if c["val_pixel_ap"] >= 0.95 * best["val_pixel_ap"])
                print(f"{name}: best val P-AP {best['val_pixel_ap']:.3f} at step {best['step']}; "
                      f"within 95 % from step {knee['step']}", flush=True)


if __name__ == "__main__":
    main()
