"""Per category: is a detector's `none` row at the one-class level, and does its best generator lift it above?

    python benchmarks/one_class_level.py runs/signal-mvtec-ad/report/cells.json [more cells.json ...] \
        [--detector residual-seg] [--metric pixel_ap] [--compare frozen-seg] [--records runs/signal-mvtec-ad/cells]

Reads the cells a report selected (`<report>/cells.json`, written by `bench report` / `bench run`)
and prints, for each (dataset, category): the detector's `none` row, the best one-class reference
*of that category* (the better of PatchCore / PaDiM by mean over seeds: stricter than the report's
one reference per run), the difference paired by seed with a two-sided paired t-test (`≈` where
p ≥ 0.05: within seed noise), and the detector's best generator row (chosen by test mean here, so
read it as "the best of the generators run", not as a selection) against the same reference. Also
each detector's mean seconds per cell, for the cost comparison with `--compare`. With `--records`
(a run's `cells/` folder), also which one-class statistic residual-seg's validation fold kept per
category (its curve's step 0: `one_class_knn`, and each statistic's validation pixel AP), from the
records of the run's current `grid.json` only.

Why a script and not a report section: the report pairs every generator with one reference per
run (`harness/report_gains.py`), which is what a user choosing one detector does; this check asks
the per-category question an acceptance test of a new detector asks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.cells import ONE_CLASS  # noqa: E402 - the generator column of one-class cells
from harness.identity import GRID_FILE  # noqa: E402 - the run's current cells


def load_cells(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        rows.extend(json.loads(path.read_text()))
    return pd.DataFrame(rows)


def paired(a: pd.Series, b: pd.Series) -> tuple[float, int, int, float]:
    """mean of a − b over the seeds both have, wins of a, pairs, two-sided paired t-test p (nan below 2 pairs)."""
    both = pd.concat([a, b], axis=1, keys=["a", "b"]).dropna()
    diff = both["a"] - both["b"]
    n = len(diff)
    if n < 2 or np.allclose(diff, diff.iloc[0]):
        p = float("nan") if n < 2 else (1.0 if abs(diff.iloc[0]) < 1e-12 else 0.0)
    else:
        p = float(stats.ttest_1samp(diff, 0.0).pvalue)
    return float(diff.mean()), int((diff > 0).sum()), n, p


def verdict(mean: float, p: float) -> str:
    if np.isnan(p) or p >= 0.05:
        return "≈"
    return ">" if mean > 0 else "<"


def category_rows(df: pd.DataFrame, detector: str, metric: str) -> list[dict]:
    out = []
    for (dataset, category), part in df.groupby(["dataset", "category"], sort=True):
        ref = part[part["generator"] == ONE_CLASS]
        if ref.empty:
            continue
        ref_means = ref.groupby("detector")[metric].mean()
        best_ref = str(ref_means.idxmax())
        ref_by_seed = ref[ref["detector"] == best_ref].set_index("seed")[metric]
        mine = part[part["detector"] == detector]
        if mine.empty:
            continue
        by_gen = {g: rows.set_index("seed")[metric] for g, rows in mine.groupby("generator")}
        none = by_gen.get("none")
        augment = {g: s for g, s in by_gen.items() if g != "none"}
        best_gen = max(augment, key=lambda g: augment[g].mean()) if augment else None
        row = {"dataset": dataset, "category": category, "reference": best_ref,
               "ref": (ref_by_seed.mean(), ref_by_seed.std(ddof=1))}
        if none is not None:
            row["none"] = (none.mean(), none.std(ddof=1))
            row["none_vs_ref"] = paired(none, ref_by_seed)
        if best_gen is not None:
            s = augment[best_gen]
            row["best_gen"] = best_gen
            row["best"] = (s.mean(), s.std(ddof=1))
            row["best_vs_ref"] = paired(s, ref_by_seed)
            if none is not None:
                row["best_vs_none"] = paired(s, none)
        out.append(row)
    return out


def current_records(records: Path) -> list[Path]:
    """The cell records of the run's current grid: a `cells/` folder keeps the records of
    superseded configurations too (an older code hash), and those must not be read as this run's.
    Without the run's `grid.json` beside the folder, every record (said on stderr)."""
    paths = sorted(records.glob("*.json"))
    grid = records.parent / GRID_FILE
    if not grid.is_file():
        print(f"note: no {grid}; reading every record in {records}, superseded ones included", file=sys.stderr)
        return paths
    current = set(json.loads(grid.read_text())["cells"])
    return [p for p in paths if p.stem in current]


def kept_statistics(records: Path, detector: str) -> pd.DataFrame:
    """One row per current cell record of `detector` whose curve's step 0 says which statistic was kept."""
    rows = []
    for path in current_records(records):
        record = json.loads(path.read_text())
        key, curve = record.get("key", {}), record.get("curve") or []
        if key.get("detector") != detector or not curve or "one_class_knn" not in curve[0]:
            continue
        step0 = curve[0]
        rows.append({"dataset": key["dataset"], "category": key["category"], "generator": key["generator"],
                     "seed": key["seed"], "knn": bool(step0["one_class_knn"]),
                     "val_gaussian": step0.get("val_pixel_ap_gaussian"), "val_knn": step0.get("val_pixel_ap_knn")})
    return pd.DataFrame(rows)


def fmt(ms: tuple[float, float]) -> str:
    return f"{ms[0]:.3f} ± {ms[1]:.3f}"


def fmt_pair(t: tuple[float, int, int, float]) -> str:
    mean, wins, n, p = t
    return f"{mean:+.3f} ({wins}/{n}, p {p:.2g}) {verdict(mean, p)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cells", nargs="+", type=Path)
    ap.add_argument("--detector", default="residual-seg")
    ap.add_argument("--metric", default="pixel_ap")
    ap.add_argument("--compare", default="frozen-seg", help="another detector whose seconds per cell to show")
    ap.add_argument("--records", type=Path, help="a run's cells/ folder: which one-class statistic was kept")
    args = ap.parse_args()
    df = load_cells(args.cells)
    rows = category_rows(df, args.detector, args.metric)
    print(f"{args.detector}, {args.metric}, mean ± std over seeds; differences paired by seed "
          "(mean, wins/pairs, paired t-test p; ≈ p ≥ 0.05)")
    print("| dataset / category | none | best one-class | none − one-class | best generator | best − one-class | best − none |")
    print("|---|---|---|---|---|---|---|")
    at_level = above = 0
    for r in rows:
        none_vs = r.get("none_vs_ref")
        best_vs = r.get("best_vs_ref")
        at_level += bool(none_vs and verdict(none_vs[0], none_vs[3]) != "<")
        above += bool(best_vs and best_vs[0] > 0)
        print(f"| {r['dataset']} / {r['category']} | {fmt(r['none']) if 'none' in r else '–'} "
              f"| {r['reference']} {fmt(r['ref'])} | {fmt_pair(none_vs) if none_vs else '–'} "
              f"| {r.get('best_gen', '–')} {fmt(r['best']) if 'best' in r else ''} "
              f"| {fmt_pair(best_vs) if best_vs else '–'} "
              f"| {fmt_pair(r['best_vs_none']) if 'best_vs_none' in r else '–'} |")
    print(f"none not below the one-class reference (≈ or >): {at_level}/{len(rows)}; "
          f"best generator's mean above it: {above}/{len(rows)}")
    if args.records:
        kept = kept_statistics(args.records, args.detector)
        if kept.empty:
            print(f"no {args.detector} record in {args.records} says which one-class statistic it kept")
        else:
            # the choice is made before any generated pair is seen: one per (category, seed)
            per_seed = kept.drop_duplicates(["dataset", "category", "seed"])
            print("one-class statistic kept on the validation fold (step 0), per seed:")
            for (dataset, category), part in per_seed.groupby(["dataset", "category"], sort=True):
                seeds = ", ".join(f"s{int(r.seed)} {'knn' if r.knn else 'gaussian'} ({r.val_gaussian:.3f} / {r.val_knn:.3f})"
                                  for r in part.sort_values("seed").itertuples())
                print(f"  {dataset} / {category}: {seeds}   (val P-AP gaussian / knn)")
    secs = df.groupby(["detector", df["generator"] == ONE_CLASS])["seconds"].agg(["mean", "count"])
    for det in [args.detector, args.compare, *sorted(set(df["detector"]) - {args.detector, args.compare})]:
        if det in secs.index.get_level_values(0):
            m = secs.loc[det]
            print(f"seconds per cell, {det}: " + ", ".join(f"{r['mean']:.1f} s over {int(r['count'])} cells"
                                                          for _, r in m.iterrows()))


if __name__ == "__main__":
    main()
