"""Share of mask area on the object for every augmented set of a finished run (no fitting).

Augmented sets written before the `mask_on_object` generation metric existed do not carry it;
this recomputes it (and the real generator-train masks' reference) from the files on disk:

    python benchmarks/on_object.py runs/quick [runs/signal-mvtec-ad ...]
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from harness.augmented import load_augmented
from harness.core.generator import AnomalyPair
from harness.core.io import load_image, load_mask
from harness.metrics.generation import on_object_metrics
from harness.core import DATASETS


def real_pairs(spec: dict, dataset: dict, category: str, seed: int, run_dir: Path) -> list[AnomalyPair]:
    """The split's generator-train anomalies with their masks (paths from the dataset's table)."""
    size = int(spec["image_size"])
    adapter = DATASETS.get(dataset["name"])(dataset["root"], dataset.get("params") or {}, image_size=size)
    table = adapter.load(category)
    # the split records absolute paths; a cache may have moved since: match on the path inside the category
    table.index = ["/".join(Path(p).parts[-4:]) for p in table["image_path"]]
    rows = json.loads((run_dir / "splits" / dataset["name"] / category / f"seed{seed}.json").read_text())["rows"]
    out = []
    for r in rows:
        if r["role"] == "generator_train":
            t = table.loc["/".join(Path(r["image_path"]).parts[-4:])]
            out.append(AnomalyPair(load_image(t["image_path"], size), load_mask(t["mask_paths"], size, like=t["image_path"]),
                                   r["defect_type"]))
    return out


def main(run_dirs: list[str]) -> None:
    for run in map(Path, run_dirs):
        spec = json.loads((run / "spec.json").read_text())
        rows = defaultdict(list)
        for manifest in sorted((run / "augmented").glob("*/*/*/*/manifest.json")):
            aug = load_augmented(manifest.parent)
            if aug is None or not aug.manifest.get("generated"):
                continue
            m = aug.manifest
            ds = next(d for d in spec["datasets"] if d["name"] == m["dataset"] and (
                d.get("categories") is None or m["category"] in d["categories"]) and (
                d["root"] is None or (Path(d["root"]) / m["category"]).exists() or Path(d["root"]).name == m["category"]
                or m["category"] in str(d["root"])))
            res = on_object_metrics(aug.pairs(), real_pairs(spec, ds, m["category"], int(m["seed"]), run))
            rows[(m["category"], m["generator"])].append((res["mask_on_object"].value, res["mask_on_object_real"].value,
                                                          res["mask_on_object"].params.get("per_defect_type")))
        print(f"## {run}\n\n| category | generator | on-object | real on-object | seeds |\n|---|---|---|---|---|")
        for (cat, gen), vals in sorted(rows.items()):
            g = [v[0] for v in vals if v[0] is not None]
            r = [v[1] for v in vals if v[1] is not None]
            fmt = lambda a: f"{np.mean(a):.3f}" + (f" ± {np.std(a, ddof=1):.3f}" if len(a) > 1 else "") if a else "n/a"
            print(f"| {cat} | {gen} | {fmt(g)} | {fmt(r)} | {len(vals)} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
