"""The report's cost tables: what each generator took to fit and sample, and the quality it bought.

A cell's ``seconds`` are the detector's; the generator's fit and sampling happen once per
(dataset, category, seed) set and are recorded in ``generator_cost`` (`harness.cost`). Records
written before that field existed give n/a, never 0.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from harness.baseline import FROM_LABELS, resolve
from harness.cells import ONE_CLASS, CellRecord

COST_FIELDS = ("fit_seconds", "sample_seconds", "n_sampled", "images_per_second", "gpu_seconds")
SET_KEYS = ["dataset", "category", "seed"]
#: a fit (or fit + sampling) shorter than this is no cost to speak of (CutPaste, copy-paste): a gain per
#: minute of it would be a huge number made of timer noise
MIN_FIT_SECONDS = 1.0


def cost_columns(record: CellRecord) -> dict[str, Any]:
    """``cost_<field>`` columns of one cell for `collect_results` (None where the record has none)."""
    cost = getattr(record, "generator_cost", None) or {}
    return {f"cost_{k}": cost.get(k) for k in COST_FIELDS}


def _sets(df: pd.DataFrame, generator: str) -> pd.DataFrame:
    """One row per augmented set of `generator` (every detector of a (category, seed) trained on the same set)."""
    part = df[df["generator"] == generator]
    return part.drop_duplicates(SET_KEYS)


def _mean(values: pd.Series) -> float:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return float(v.mean()) if len(v) else np.nan


def _fmt(v: float, spec: str = ".1f") -> str:
    return "n/a" if np.isnan(v) else f"{v:{spec}}"


def cost_table(df: pd.DataFrame, generators: Sequence[str]) -> pd.DataFrame:
    """Per generator: mean fit s, sampling s, images/s and GPU-s per set; detector s per cell; total s."""
    rows = {}
    for g in generators:
        if g == ONE_CLASS or g not in set(df["generator"]):
            continue
        sets = _sets(df, g)
        cells = df[df["generator"] == g]
        fit = _mean(sets.get("cost_fit_seconds", pd.Series(dtype=float)))
        sample = _mean(sets.get("cost_sample_seconds", pd.Series(dtype=float)))
        gpu = _mean(sets.get("cost_gpu_seconds", pd.Series(dtype=float)))
        ips = _mean(sets.get("cost_images_per_second", pd.Series(dtype=float)))
        makes = (pd.to_numeric(cells.get("n_generated", pd.Series(dtype=float)), errors="coerce") > 0).any()
        empty = pd.Series(dtype=float)
        gen_total = float(pd.to_numeric(sets.get("cost_fit_seconds", empty), errors="coerce").fillna(0).sum()
                          + pd.to_numeric(sets.get("cost_sample_seconds", empty), errors="coerce").fillna(0).sum())
        known = not (np.isnan(fit) and makes)
        det_total = float(pd.to_numeric(cells["seconds"], errors="coerce").sum())
        rows[g] = {
            "sets": len(sets),
            "fit s / set": _fmt(fit) if makes else "—",
            "sample s / set": _fmt(sample) if makes else "—",
            "images/s": _fmt(ips) if makes else "—",
            "GPU-s / set": ("n/a (CPU)" if np.isnan(gpu) and not np.isnan(fit) else _fmt(gpu)) if makes else "—",
            "detector s / cell": _fmt(_mean(cells["seconds"])),
            "total s": f"{gen_total + det_total:.0f}" if known else f"≥ {det_total:.0f} (fit n/a)",
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "generator"
    return out


def gain_per_cost(df: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str], metric: str,
                  metric_name: str, *, baseline: str | None = FROM_LABELS) -> pd.DataFrame:
    """Per generator that augments: the metric's gain over `baseline` (means as in the main table) per fit-minute
    and per generation-minute (fit + sampling). n/a without `baseline` (the generator that makes no pair,
    `harness.baseline`), a recorded cost or a fit of ≥ 1 s."""
    from harness.verdict import generator_means

    baseline = resolve(baseline, generators)
    if baseline is None or baseline not in set(df["generator"]) or metric not in df.columns:
        return pd.DataFrame()
    rows = {}
    for g in generators:
        if g in (baseline, ONE_CLASS) or g not in set(df["generator"]):
            continue
        sets = _sets(df, g)
        fit = _mean(sets.get("cost_fit_seconds", pd.Series(dtype=float)))
        sample = _mean(sets.get("cost_sample_seconds", pd.Series(dtype=float)))
        row: dict[str, str] = {"fit min / set": _fmt(fit / 60, ".2f"),
                               "generation min / set": _fmt((fit + sample) / 60, ".2f")}
        for d in detectors:
            means = generator_means(df, [g, baseline], d, metric)
            if g not in means.index or baseline not in means.index:
                continue
            gain = float(means[g] - means[baseline])
            row[f"{d} Δ {metric_name}"] = f"{gain:+.3f}"
            row[f"{d} Δ / fit-min"] = ("n/a" if np.isnan(fit) else f"n/a (fit < {MIN_FIT_SECONDS:g} s)"
                                       if fit < MIN_FIT_SECONDS else f"{gain / (fit / 60):+.4f}")
            gen_s = fit + sample
            row[f"{d} Δ / generation-min"] = ("n/a" if np.isnan(gen_s) else f"n/a (< {MIN_FIT_SECONDS:g} s)"
                                              if gen_s < MIN_FIT_SECONDS else f"{gain / (gen_s / 60):+.4f}")
        rows[g] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "generator"
    return out
