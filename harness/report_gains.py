"""Gains measured against the one-class level: generator × detector minus the best one-class reference.

Why: the gain over `none` says how far a generator lifts a detector above that same detector
trained without anomalies — for a decoder that never saw an anomaly, that is a gain over
almost nothing. The question a user asks is whether generated anomalies beat the best use of
the normals alone: a one-class detector (PatchCore, PaDiM) trained on the very same normals.
So each augmented cell is paired with the one-class reference's cell of the same (dataset,
category, seed) — same split, same normals — and the difference is summarised as the `none`
table is (`harness.report.paired_table`).

The reference is chosen per metric, once per run: the one-class detector with the best mean
over the run (per seed averaged over categories, then over seeds, as the main table's
means). Choosing it per category would pick the luckier reference cell by cell and flatter
the one-class side; choosing one for the run is what a user who must pick one detector
would do.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from harness.cells import ONE_CLASS

PAIR_KEYS = ["dataset", "category", "seed"]
GAIN_COLUMNS = ["generator", "detector", "metric", "reference", "mean", "std", "wins", "n_pairs"]


def best_one_class(df: pd.DataFrame, metric: str) -> str | None:
    """The one-class detector with the highest run mean of `metric` (None without one-class cells)."""
    if metric not in df.columns:
        return None
    ref = df[(df["generator"] == ONE_CLASS) & df[metric].notna()]
    if ref.empty:
        return None
    means = ref.groupby(["detector", "seed"])[metric].mean().groupby("detector").mean()
    best = means.max()
    return str(sorted(means.index[np.isclose(means, best, rtol=0, atol=1e-12)])[0])  # ties: by name, stable


def gains_over_one_class(df: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str],
                         metrics: Sequence[str]) -> pd.DataFrame:
    """Long frame (GAIN_COLUMNS): per generator × augmented detector × metric, the paired differences
    cell − best one-class reference's cell over the (dataset, category, seed) both finished."""
    rows = []
    for m in metrics:
        reference = best_one_class(df, m)
        if reference is None:
            continue
        base = df[(df["generator"] == ONE_CLASS) & (df["detector"] == reference)].set_index(PAIR_KEYS)[m]
        for d in detectors:
            for g in generators:
                cells = df[(df["generator"] == g) & (df["detector"] == d)]
                if cells.empty:
                    continue
                diff = (cells.set_index(PAIR_KEYS)[m] - base).dropna()
                if not len(diff):
                    continue
                rows.append({"generator": g, "detector": d, "metric": m, "reference": reference,
                             "mean": float(diff.mean()), "std": float(diff.std()) if len(diff) > 1 else np.nan,
                             "wins": int((diff > 0).sum()), "n_pairs": int(len(diff))})
    return pd.DataFrame(rows, columns=GAIN_COLUMNS)


def gain_table(gains: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str],
               metric_names: dict[str, str], *, latex: bool = False) -> pd.DataFrame:
    """Rows = generators, columns "detector metric": "mean Δ ± std (wins/pairs)" against the reference."""
    if gains.empty:
        return pd.DataFrame()
    pm = "$\\pm$" if latex else "±"
    cols = [(d, m) for d in detectors for m in dict.fromkeys(gains["metric"])
            if ((gains["detector"] == d) & (gains["metric"] == m)).any()]
    names = {(d, m): f"{d} {metric_names.get(m, m)}" for d, m in cols}
    rows = [g for g in generators if g in set(gains["generator"])]
    out = pd.DataFrame("—", index=rows, columns=list(names.values()), dtype=object)
    for r in gains.itertuples():
        if (r.detector, r.metric) not in names:
            continue
        std = "" if np.isnan(r.std) else f" {pm} {r.std:.3f}"
        out.loc[r.generator, names[(r.detector, r.metric)]] = f"{r.mean:+.3f}{std} ({r.wins}/{r.n_pairs})"
    out.index.name = "generator"
    return out


def reference_sentence(gains: pd.DataFrame, metric_names: dict[str, str]) -> str:
    """Which one-class detector each metric is measured against (chosen by its run mean)."""
    refs = gains.drop_duplicates("metric")[["metric", "reference"]]
    return "; ".join(f"{metric_names.get(m, m)}: `{r}`" for m, r in refs.itertuples(index=False))
