"""Paper-ready tables from finished cells: Markdown, LaTeX, CSV, and a figure.

The report opens with the verdict (`harness.verdict`, also ``verdict.csv``): one sentence per
detector × headline metric saying which generators that augment are separable, which tie, and
how each fares against `none`. Main table: rows = generators, columns = detector × metric,
mean ± std over seeds (each seed's value is first averaged over the categories), best mean per
column in bold. Above it a signal check (also ``signal.csv``): per detector × metric, the spread
of the means of the generators that augment (`none` apart) against the pooled seed std, with a
bold "do not rank these" warning where the pixel-AP or image-AUROC differences are within seed
noise or rest on one seed. Generator cost (`harness.report_cost`) sits next to it. Then each
generator against no augmentation (``none``), paired by category and seed: the seed-to-seed
spread of the main table is mostly shared by all generators (same split, same canvases), so the
paired difference is the sharper answer to "by how much". Next to it each generator against the
best one-class reference of the run (`harness.report_gains`): whether the generated anomalies
beat the best use of the normals alone, not just the detector trained without anomalies.
One-class references (which use no generated anomalies) get their own table, and the
generation-quality numbers (IS, IC-LPIPS, mask statistics) theirs, with "n/a" where the
weights a metric needs are missing — the reason is printed under the table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from harness.cells import ONE_CLASS, CellStore
from harness.fsio import write_text_atomic
from harness.references import OURS, load_references, reference_table
from harness.report_cost import cost_columns, cost_table, gain_per_cost
from harness.report_gains import gain_table, gains_over_one_class, reference_sentence
from harness.stats import MIN_CI_PAIRS

METRIC_NAMES = {
    "image_auroc": "I-AUROC", "image_ap": "I-AP", "image_f1max": "I-F1max",
    "pixel_auroc": "P-AUROC", "pixel_ap": "P-AP", "pixel_f1max": "P-F1max",
    "pixel_aupro": "AUPRO", "spro": "sPRO",
    # the validation fold's pixel AP at the step the detector kept (the best of its training
    # curve): real anomalies carved from generator-train, never test, so choosing on it is clean
    "val_pixel_ap": "val P-AP",
}
VALIDATION_METRIC = "val_pixel_ap"
QUALITY_NAMES = {
    "is": "IS", "ic_lpips": "IC-LPIPS", "kid": "KID", "fid": "FID",
    # 1-D Wasserstein distances, generated vs real generator-train masks (lower = closer)
    "mask_area_wd": "mask area W1", "mask_count_wd": "mask parts W1", "mask_pos_wd": "mask position W1",
    # share of mask area on the object (harness.data.foreground); the real generator-train masks' as reference
    "mask_on_object": "on-object", "mask_on_object_real": "real on-object",
}


def collect_results(run_dir: Path, *, grid: dict | None = None, include_superseded: bool = False) -> pd.DataFrame:
    """One row per cell of the spec's grid, metrics as columns (generation metrics prefixed ``gen_``).

    `grid`: the spec's resolved grid (`harness.identity`; default: the one the last run wrote).
    ``df.attrs["notes"]`` says what was left out (superseded or corrupt records)."""
    from harness.identity import read_grid, select

    store = CellStore(run_dir)
    grid = grid if grid is not None else read_grid(run_dir)
    chosen, n_old = select(store.records(oldest_first=grid is None), grid, include_superseded=include_superseded)
    rows = []
    for rec in chosen:
        k = rec.key
        row = {"dataset": k.dataset, "category": k.category, "generator": k.generator, "detector": k.detector,
               "seed": k.seed, "n_synthetic": k.n_synthetic, "n_generated": rec.n_generated,
               "n_normal": rec.n_normal, "seconds": rec.seconds,
               "augmented_manifest": rec.augmented_manifest, **cost_columns(rec), **rec.metrics}
        val = [p[VALIDATION_METRIC] for p in rec.curve if p.get(VALIDATION_METRIC) is not None]
        if val:
            row[VALIDATION_METRIC] = max(val)
        for name, res in rec.generation.items():
            row[f"gen_{name}"] = res.get("value")
            if res.get("value") is None:
                row[f"gen_{name}_unavailable"] = res.get("unavailable")
        rows.append(row)
    df = pd.DataFrame(rows)
    if not df.empty:  # one row per cell, whatever lies in the folder: duplicates would break the paired stats
        df = df.drop_duplicates(["dataset", "category", "generator", "detector", "seed", "n_synthetic"], keep="last")
    notes = store.corrupt_lines()
    if n_old:
        notes.append(f"{n_old} superseded cell(s) of an older configuration in {run_dir} "
                     + ("shown, labelled `[superseded <fingerprint>]`" if include_superseded
                        else "left out; `bench report --all` shows them, labelled"))
    df.attrs["notes"] = notes
    return df


def split_ratio_axis(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the cells of the main tables, every augmented cell of the ratio axis or an empty frame).

    On a ratio axis each (generator, detector) has one cell per sample count; the main tables,
    statistics and ranks use the largest count (the whole generated set), so a mean never mixes
    counts. `none` and one-class cells have no count and belong to both."""
    counts = df["n_synthetic"].dropna() if "n_synthetic" in df.columns else pd.Series(dtype=float)
    if counts.nunique() < 2:
        return df, df.iloc[0:0]
    top = counts.max()
    main = df[df["n_synthetic"].isna() | (df["n_synthetic"] == top)]
    return main, df[df["generator"] != ONE_CLASS]


def ratio_table(axis: pd.DataFrame, gens: Sequence[str], dets: Sequence[str], metric: str) -> pd.DataFrame:
    """Rows generator, columns "detector · n pairs (ratio)": mean ± std over seeds (categories averaged)."""
    counts = sorted(int(n) for n in axis["n_synthetic"].dropna().unique())
    normal = axis.loc[axis["n_normal"] > 0, "n_normal"]
    per_normal = float(normal.median()) if len(normal) else 0.0
    out = pd.DataFrame(index=[g for g in gens if g in set(axis["generator"])])
    for d in dets:
        part = axis[axis["detector"] == d]
        for n in counts:
            col = f"{d} · {n}" + (f" ({n / per_normal:.2f}:1)" if per_normal else "")
            for g in out.index:
                cells = part[(part["generator"] == g) & ((part["n_synthetic"] == n) | part["n_synthetic"].isna())]
                per_seed = cells.groupby("seed")[metric].mean()
                if per_seed.empty:
                    out.loc[g, col] = "–"
                else:
                    std = per_seed.std(ddof=1) if len(per_seed) > 1 else float("nan")
                    out.loc[g, col] = f"{per_seed.mean():.3f}" + (f" ± {std:.3f}" if np.isfinite(std) else "")
    out.index.name = "generator"
    return out


def _order(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    seen = [v for v in preferred if v in set(values)]
    return seen + sorted(set(values) - set(seen))


def summarise(df: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Long table: generator, detector, metric, mean, std, n_seeds (categories averaged per seed)."""
    metrics = [m for m in metrics if m in df.columns]
    per_seed = df.groupby(["generator", "detector", "seed"])[metrics].mean().reset_index()
    long = per_seed.melt(id_vars=["generator", "detector", "seed"], var_name="metric", value_name="value")
    agg = long.groupby(["generator", "detector", "metric"])["value"].agg(["mean", "std", "count"]).reset_index()
    # a metric a detector does not produce (val P-AP without a training curve) is no row, not a NaN one
    return agg[agg["count"] > 0].rename(columns={"count": "n_seeds"}).reset_index(drop=True)


SIGNAL_RATIO = 3.0
"""Generator effect (max − min of the generator means) in pooled seed stds from which a column
counts as a signal. With a handful of generators, a spread of 3 seed stds is unlikely from seed
noise alone; a screening rule, not a test — the paired tables say more."""
WEAK_RATIO = 2.0
"""Below this the spread is what seed noise alone gives routinely; between it and SIGNAL_RATIO, "weak"."""
#: the metrics a table is ranked by: the signal check warns on these, the figure shows the first present
HEADLINE_METRICS = ("pixel_ap", "image_auroc")
UNKNOWN = "unknown (1 seed)"
SIGNAL_COLUMNS = ["detector", "metric", "effect", "seed_std", "ratio", "verdict", "best", "runner_up", "vs_none",
                  "compared", "n_generators", "n_seeds"]


def _ratio(effect: float, seed_std: float) -> float:
    if np.isnan(seed_std):
        return np.nan
    if seed_std == 0:
        return np.inf if effect > 0 else 0.0  # no effect at all: nothing to rank
    return effect / seed_std


def _verdict(n_generators: int, seed_std: float, ratio: float) -> str:
    if n_generators < 2:
        return "n/a"
    if np.isnan(seed_std):
        return UNKNOWN
    return "signal" if _at_least(ratio, SIGNAL_RATIO) else "weak" if _at_least(ratio, WEAK_RATIO) else "noise"


def _at_least(ratio: float, bound: float) -> bool:
    """≥ up to float rounding: 0.15 / 0.05 is 2.9999999999999996, shown and meant as 3.0×."""
    return ratio >= bound or bool(np.isclose(ratio, bound, rtol=1e-9, atol=0.0))


def signal_check(df: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str],
                 metrics: Sequence[str], *, baseline: str = "none") -> pd.DataFrame:
    """Per (detector, metric): do the generators that augment differ by more than seed noise?

    ``df`` holds augmented cells only (no one-class rows). The compared generators are those
    other than `baseline` when there are ≥ 2 of them (column ``compared`` "augmenting"): with
    `baseline` in, the spread would mostly say that augmenting beats not augmenting, which
    ``vs_none`` (best mean − `baseline` mean) says on its own; otherwise all of them ("with none").
    effect = max − min of the compared generator means (as in `summarise`); seed_std = sqrt of
    the mean over compared generators with ≥ 2 seeds of their seed variance (ddof=1), NaN if
    none has 2; ratio = effect / seed_std. effect and ratio are NaN with fewer than 2 generators
    (verdict "n/a"). `harness.verdict` tests best against runner-up pair by pair.
    """
    summary = summarise(df, metrics)
    augmenting = [g for g in generators if g != baseline]
    rows = []
    for d in detectors:
        for m in metrics:
            part = summary[(summary["detector"] == d) & (summary["metric"] == m)].set_index("generator")
            base = part["mean"].get(baseline, np.nan)
            present = [g for g in augmenting if g in part.index]
            compared = "augmenting" if len(present) >= 2 else "with none"
            keep = present if compared == "augmenting" else [g for g in generators if g in part.index]
            part = part.reindex(keep).dropna(subset=["mean"])
            if part.empty:
                continue
            ranked = part["mean"].sort_values(ascending=False, kind="stable")
            var = part.loc[part["n_seeds"] >= 2, "std"] ** 2
            seed_std = float(np.sqrt(var.mean())) if len(var) else np.nan
            n_gen = len(part)
            effect = float(part["mean"].max() - part["mean"].min()) if n_gen >= 2 else np.nan
            ratio = _ratio(effect, seed_std) if n_gen >= 2 else np.nan
            rows.append({"detector": d, "metric": m, "effect": effect, "seed_std": seed_std, "ratio": ratio,
                         "verdict": _verdict(n_gen, seed_std, ratio), "best": ranked.index[0],
                         "runner_up": ranked.index[1] if n_gen >= 2 else None,
                         "vs_none": float(ranked.iloc[0] - base) if ranked.index[0] != baseline else np.nan,
                         "compared": compared, "n_generators": n_gen, "n_seeds": int(part["n_seeds"].max())})
    return pd.DataFrame(rows, columns=SIGNAL_COLUMNS)


def _ratio_text(ratio: float) -> str:
    return "∞×" if np.isinf(ratio) else f"{ratio:.1f}×"


def _signal_lines(check: pd.DataFrame) -> list[str]:
    lines = []
    for r in check.itertuples():
        name = METRIC_NAMES.get(r.metric, r.metric)
        if r.verdict == "n/a":
            lines.append(f"- {r.detector}: {name} — n/a (one generator, nothing to compare)")
            continue
        std = "n/a (1 seed)" if r.verdict == UNKNOWN else f"{r.seed_std:.3f} → {_ratio_text(r.ratio)}"
        among = "spread among generators that augment" if r.compared == "augmenting" else "generator effect"
        best = f"best: {r.best}, runner-up: {r.runner_up}"
        if not np.isnan(r.vs_none) and r.compared == "augmenting":
            best += f"; best − none {r.vs_none:+.3f}"
        lines.append(f"- {r.detector}: {among} on {name} {r.effect:.3f}, seed std {std} — {r.verdict} ({best})")
    return lines


def _signal_warnings(check: pd.DataFrame) -> list[str]:
    """One bold block per detector whose headline-metric differences must not be read as a ranking."""
    flagged = check[check["metric"].isin(HEADLINE_METRICS) & check["verdict"].isin(["noise", "weak", UNKNOWN])]
    lines = []
    for d, part in flagged.groupby("detector", sort=False):
        sentences = []
        noisy = part[part["verdict"] != UNKNOWN]
        if len(noisy):
            names = [METRIC_NAMES.get(m, m) for m in noisy["metric"]]
            ratios = (_ratio_text(noisy["ratio"].iloc[0]) if len(noisy) == 1 else
                      ", ".join(f"{n} {_ratio_text(r)}" for n, r in zip(names, noisy["ratio"])))
            sentences.append(f"For {d} the differences between generators on {' and '.join(names)} are within "
                             f"seed noise ({ratios} the seed std; a rank needs ≥ {SIGNAL_RATIO:g}×).")
        one_seed = part[part["verdict"] == UNKNOWN]
        if len(one_seed):
            names = [METRIC_NAMES.get(m, m) for m in one_seed["metric"]]
            sentences.append(f"For {d} the differences between generators on {' and '.join(names)} rest on "
                             "only one seed: seed noise is unknown; run ≥ 2 seeds before ranking.")
        lines += [f"> **Warning: do not rank these.** {' '.join(sentences)}", ""]
    return lines


def _cell_text(mean: float, std: float, n: int, bold: bool, latex: bool) -> str:
    if np.isnan(mean):
        return "n/a"
    txt = f"{mean:.3f}" if n < 2 or np.isnan(std) else (f"{mean:.3f} $\\pm$ {std:.3f}" if latex else f"{mean:.3f} ± {std:.3f}")
    if bold:
        return f"\\textbf{{{txt}}}" if latex else f"**{txt}**"
    return txt


def wide_table(summary: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str],
               metrics: Sequence[str], *, latex: bool = False) -> pd.DataFrame:
    columns = [(d, m) for d in detectors for m in metrics
               if ((summary["detector"] == d) & (summary["metric"] == m)).any()]
    out = pd.DataFrame(index=list(generators), columns=[f"{d} {METRIC_NAMES.get(m, m)}" for d, m in columns], dtype=object)
    for d, m in columns:
        part = summary[(summary["detector"] == d) & (summary["metric"] == m)].set_index("generator")
        best = part["mean"].max()
        for g in generators:
            if g not in part.index:
                out.loc[g, f"{d} {METRIC_NAMES.get(m, m)}"] = "—"
                continue
            r = part.loc[g]
            bold = len(part) > 1 and np.isclose(r["mean"], best)
            out.loc[g, f"{d} {METRIC_NAMES.get(m, m)}"] = _cell_text(r["mean"], r["std"], int(r["n_seeds"]), bold, latex)
    out.index.name = "generator"
    return out


def quality_table(df: pd.DataFrame, generators: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Generation-quality means per generator; 'n/a' plus the reason where unavailable."""
    cols = [c for c in df.columns if c.startswith("gen_") and not c.endswith("_unavailable")]
    notes: list[str] = []
    missing: dict[str, list[str]] = {}  # reason → the metrics it explains
    if not cols:
        return pd.DataFrame(), notes
    one_per_gen = df[(df["generator"] != ONE_CLASS) & (df["n_generated"] > 0)]
    one_per_gen = one_per_gen.drop_duplicates(["generator", "category", "seed"])
    table = pd.DataFrame(index=[g for g in generators if g in set(one_per_gen["generator"])], dtype=object)
    for c in cols:
        name = c[len("gen_"):]
        label = QUALITY_NAMES.get(name, name)
        for g in table.index:
            vals = pd.to_numeric(one_per_gen.loc[one_per_gen["generator"] == g, c], errors="coerce").dropna()
            fmt = ".3g" if name in ("kid", "fid") else ".3f"  # KID of close sets is ~1e-3: keep its digits
            table.loc[g, label] = f"{vals.mean():{fmt}}" if len(vals) else "n/a"
        reasons = one_per_gen.get(f"{c}_unavailable")
        if reasons is not None and reasons.notna().any():
            missing.setdefault(str(reasons.dropna().iloc[0]), []).append(label)
    # a column that is n/a for every generator says nothing a note cannot: one note for all of them
    empty = [c for c in table.columns if (table[c] == "n/a").all()]
    table = table.drop(columns=empty)
    gone = list(empty)
    if gone:
        why = "; ".join(f"{', '.join(labels)}: {reason}" for reason, labels in missing.items()
                        if set(labels) & set(gone))
        notes.append(f"Not computed for any generator: {', '.join(gone)}" + (f" — {why}" if why else ""))
    notes += [f"{', '.join(labels)}: n/a for some generators — {reason}" for reason, labels in missing.items()
              if not set(labels) & set(gone)]
    table.index.name = "generator"
    return table, notes


BASELINE = "none"
VERDICT_NOTE = ("How to read it: the generators that augment are ordered by mean, and each is compared with the "
                "next one down, paired by (dataset, category, seed), by a two-sided paired t-test "
                "(`scipy.stats.ttest_1samp` on the differences): `>` where p < 0.05, `≈` (a tie) otherwise. "
                "Separately, each is compared with `none` the same way. A comparison needs ≥ 2 pairs. Each test "
                "is at 5 %, not adjusted for how many the sentence holds; `≈` between neighbours says nothing "
                "about generators further apart (see the comparisons table and the paired statistics).")
COST_NOTE = ("A generator is fitted and sampled once per (dataset, category, seed) set, before its detectors: "
             "fit and sampling seconds are per set (mean), GPU-seconds = fit + sampling on one GPU (n/a on CPU); "
             "detector s / cell are the cells' own seconds (what MLflow's durations show); total = every set's "
             "fit + sampling + every cell. A fit reused from the run's cache (`fits/`) costs ~0 here.")


def paired_table(df: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str], metrics: Sequence[str],
                 *, baseline: str = BASELINE, latex: bool = False) -> pd.DataFrame:
    """Rows = generators other than `baseline`; cells "mean Δ ± std (wins/pairs)" of
    generator − baseline over the (dataset, category, seed) cells both finished."""
    keys = ["dataset", "category", "seed"]
    cols = [(d, m) for d in detectors for m in metrics if m in df.columns]
    rows = [g for g in generators if g != baseline]
    out = pd.DataFrame(index=rows, columns=[f"{d} {METRIC_NAMES.get(m, m)}" for d, m in cols], dtype=object)
    pm = "$\\pm$" if latex else "±"
    for d, m in cols:
        base = df[(df["generator"] == baseline) & (df["detector"] == d)].set_index(keys)[m]
        for g in rows:
            other = df[(df["generator"] == g) & (df["detector"] == d)].set_index(keys)[m]
            diff = (other - base).dropna()
            if not len(diff):
                out.loc[g, f"{d} {METRIC_NAMES.get(m, m)}"] = "—"
                continue
            std = f" {pm} {diff.std():.3f}" if len(diff) > 1 else ""
            out.loc[g, f"{d} {METRIC_NAMES.get(m, m)}"] = f"{diff.mean():+.3f}{std} ({int((diff > 0).sum())}/{len(diff)})"
    out.index.name = "generator"
    return out


def stats_table(paired: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str],
                metrics: Sequence[str]) -> pd.DataFrame:
    """Rows = generators, columns = detector × metric: "Δ [95 % CI] (wins/pairs) p" (p Holm-adjusted)."""
    cols = [(d, m) for d in detectors for m in metrics
            if ((paired["detector"] == d) & (paired["metric"] == m)).any()]
    out = pd.DataFrame(index=list(generators), columns=[f"{d} {METRIC_NAMES.get(m, m)}" for d, m in cols], dtype=object)
    for d, m in cols:
        part = paired[(paired["detector"] == d) & (paired["metric"] == m)].set_index("generator")
        ref = part["reference"].iloc[0]
        for g in generators:
            name = f"{d} {METRIC_NAMES.get(m, m)}"
            if g == ref:
                out.loc[g, name] = "reference"
            elif g not in part.index:
                out.loc[g, name] = "—"
            else:
                r = part.loc[g]
                head = f"{r['mean_diff']:+.3f}"
                tail = f"({int(r['wins'])}/{int(r['n_pairs'])})"
                if np.isnan(r["p_holm"]):  # too few pairs for a CI or a test: say how many are needed
                    out.loc[g, name] = f"{head} {tail}, CI and p need ≥ {MIN_CI_PAIRS} pairs"
                else:
                    out.loc[g, name] = f"{head} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] {tail} p={r['p_holm']:.2g}"
    out.index.name = "generator"
    return out


def rank_table(results: list[dict], generators: Sequence[str]) -> pd.DataFrame:
    """Average rank per generator (1 = best) per detector × metric, with Friedman p, CD and block count."""
    cols = {f"{r['detector']} {METRIC_NAMES.get(r['metric'], r['metric'])}": r for r in results}
    rows = [g for g in generators if any(g in r["avg_rank"].index for r in results)]
    out = pd.DataFrame(index=rows + ["Friedman p", "Nemenyi CD (α 0.05)", "categories"], columns=list(cols), dtype=object)
    for name, r in cols.items():
        best = r["avg_rank"].min()
        for g in rows:
            v = r["avg_rank"].get(g, np.nan)
            out.loc[g, name] = "—" if np.isnan(v) else (f"**{v:.2f}**" if np.isclose(v, best) else f"{v:.2f}")
        out.loc["Friedman p", name] = f"{r['friedman_p']:.2g}"
        out.loc["Nemenyi CD (α 0.05)", name] = f"{r['cd']:.2f}"
        out.loc["categories", name] = str(r["n_blocks"])
    out.index.name = "generator"
    return out


def correlation_table(corr: pd.DataFrame, detectors: Sequence[str], metrics: Sequence[str], scope: str) -> pd.DataFrame:
    """Rows = quality metric, columns = detector × detection metric: "ρ (p, n)" for one scope."""
    part = corr[corr["scope"] == scope] if scope == "all" else corr[corr["scope"] != "all"]
    if part.empty:
        return pd.DataFrame()
    index_cols = ["quality"] if scope == "all" else ["scope", "quality"]
    cols = [(d, m) for d in detectors for m in metrics if ((part["detector"] == d) & (part["metric"] == m)).any()]
    keys = part[index_cols].drop_duplicates().itertuples(index=False)
    labels = {}
    for k in keys:
        q = k[-1]
        label = QUALITY_NAMES.get(q[len("gen_"):], q)
        labels[tuple(k)] = label if scope == "all" else f"{k[0]}: {label}"
    out = pd.DataFrame(index=list(labels.values()), columns=[f"{d} {METRIC_NAMES.get(m, m)}" for d, m in cols], dtype=object)
    for r in part.itertuples():
        key = (r.quality,) if scope == "all" else (r.scope, r.quality)
        text = "n/a" if np.isnan(r.rho) else f"{r.rho:+.2f} (p {r.p:.2g}, n {r.n})"
        if np.isnan(r.rho) and r.n:
            text = f"n/a (n {r.n})"
        out.loc[labels[key], f"{r.detector} {METRIC_NAMES.get(r.metric, r.metric)}"] = text
    out.index.name = "quality metric" if scope == "all" else "category: quality metric"
    return out.fillna("—")


def timing_table(df: pd.DataFrame, generators: Sequence[str]) -> pd.DataFrame:
    """Mean and total wall seconds per cell, per generator → detector (what a re-run costs)."""
    part = df.assign(generator=df["generator"].replace(ONE_CLASS, "one-class"))
    order = [g for g in [*generators, "one-class"] if g in set(part["generator"])]
    t = part.groupby(["generator", "detector"])["seconds"].agg(["count", "mean", "sum"]).reset_index()
    t["generator"] = pd.Categorical(t["generator"], order, ordered=True)
    t = t.sort_values(["generator", "detector"])
    out = pd.DataFrame({"cells": t["count"].to_numpy(), "s per cell": [f"{v:.1f}" for v in t["mean"]],
                        "s total": [f"{v:.0f}" for v in t["sum"]]},
                       index=[f"{g} → {d}" for g, d in zip(t["generator"], t["detector"])])
    out.index.name = "generator → detector"
    return out


def _markdown(df: pd.DataFrame, *, as_written: bool = False) -> str:
    """`as_written`: cells kept as formatted ("+0.150", "10.0"), not re-parsed as numbers by tabulate."""
    if df.empty:
        return "_(no rows)_"
    return df.to_markdown(disable_numparse=True) if as_written else df.to_markdown()


def _quality_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("gen_") and not c.endswith("_unavailable")
            and pd.to_numeric(df[c], errors="coerce").notna().any()]


def _spec_order(run_dir: Path) -> tuple[list[str], list[str]]:
    """Generator and detector keys in the order of the run's recorded spec (empty without one)."""
    path = run_dir / "spec.json"
    if not path.is_file():
        return [], []
    spec = json.loads(path.read_text())
    keys = lambda items: [i.get("label") or i["name"] for i in items or []]  # noqa: E731 - PluginSpec.key
    return keys(spec.get("generators")), keys(spec.get("detectors"))


def write_report(run_dir: Path, out_dir: Path, *, title: str, metrics: Sequence[str],
                 generator_order: Sequence[str] = (), detector_order: Sequence[str] = (),
                 references: Path | None = None, grid: dict | None = None,
                 include_superseded: bool = False) -> list[Path]:
    """Render the report files; returns their paths. Raises if no cell has finished."""
    from harness import report_figures as figs
    from harness import report_latex as tex
    from harness import stats, verdict

    df = collect_results(run_dir, grid=grid, include_superseded=include_superseded)
    folder_notes = df.attrs.get("notes", [])
    if df.empty:
        raise FileNotFoundError(f"{run_dir}: no finished cells of this spec to report; run `bench run SPEC` first"
                                + (f" ({'; '.join(folder_notes)})" if folder_notes else ""))
    df, axis = split_ratio_axis(df)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not generator_order or not detector_order:  # a RUN_DIR alone: the order its spec listed
        spec_order = _spec_order(run_dir)
        generator_order = generator_order or spec_order[0]
        detector_order = detector_order or spec_order[1]
    all_metrics = [m for m in METRIC_NAMES if m in df.columns]
    metrics = [m for m in metrics if m in df.columns]
    headline = [m for m in HEADLINE_METRICS if m in df.columns]
    summary = summarise(df, all_metrics)
    gens = _order([g for g in df["generator"].unique() if g != ONE_CLASS], generator_order)
    aug = summary[summary["generator"] != ONE_CLASS]
    aug_cells = df[df["generator"] != ONE_CLASS]
    dets = _order(aug["detector"].unique(), detector_order)
    ref = summary[summary["generator"] == ONE_CLASS]
    ref_dets = _order(ref["detector"].unique(), detector_order)

    main_md = wide_table(aug, gens, dets, metrics)
    main_tex = wide_table(aug, gens, dets, metrics, latex=True)
    ref_md = wide_table(ref.assign(generator=ref["detector"], detector=""), ref_dets, [""], metrics)
    ref_md.columns = [c.strip() for c in ref_md.columns]
    ref_md.index.name = "detector"
    quality, notes = quality_table(df, gens)
    cats = sorted(df["category"].unique())
    seeds = sorted(df["seed"].unique())
    check = signal_check(aug_cells, gens, dets, metrics)
    # tables: (key, heading, intro, markdown frame, LaTeX frame or None = same as Markdown)
    tables: list[tuple[str, str, str, pd.DataFrame]] = []
    figures: list[tuple[str, list[Path]]] = []

    lines = [f"# {title}", "",
             f"Categories: {', '.join(cats)} · seeds: {', '.join(map(str, seeds))} · "
             f"mean ± std over seeds (per seed, averaged over categories); best per column in bold.", "",
             *[f"Note: {n}." for n in folder_notes], *([""] if folder_notes else [])]
    verdict_of = verdict.verdicts(aug_cells, gens, dets, headline or metrics)
    sentences = [verdict.sentence(v, METRIC_NAMES.get(v.metric, v.metric)) for v in verdict_of]
    if sentences:
        lines += ["## Verdict", "", *[f"- {s}" for s in sentences], "", VERDICT_NOTE, ""]
    if not check.empty:
        lines += ["## Signal check", "",
                  f"Spread = max − min of the means of the generators that augment (`{BASELINE}` left out: "
                  f"against it, see best − {BASELINE}); seed std = pooled over those generators. "
                  f"≥ {SIGNAL_RATIO:g}× is a signal, {WEAK_RATIO:g}–{SIGNAL_RATIO:g}× weak, below noise: a "
                  f"screening rule, not a test (the verdict and the paired statistics say more).",
                  "", *_signal_lines(check), ""]
    lines += ["## Detectors trained with each generator's anomalies", "", *_signal_warnings(check),
              _markdown(main_md), ""]
    tables.append(("main", "Detectors trained with each generator's anomalies",
                   f"Mean ± std over seeds; best per column in bold; {OURS}.", main_md))
    if VALIDATION_METRIC in aug_cells.columns and aug_cells[VALIDATION_METRIC].notna().any():
        val_md = wide_table(aug, gens, dets, [VALIDATION_METRIC])  # `aug` summarised every metric already
        val_check = signal_check(aug_cells, gens, dets, [VALIDATION_METRIC])
        lines += ["## Model selection: the validation fold", "",
                  "Pixel AP on the validation fold (real anomalies carved from generator-train: never test, never "
                  "seen by a generator) at the step each detector kept. Choose generator variants and params on "
                  "this table, then read the test tables above; choosing on test makes them optimistic.", "",
                  _markdown(val_md), "", *_signal_lines(val_check), ""]
        tables.append(("validation", "Model selection: pixel AP on the validation fold",
                       "Validation fold: real anomalies carved from generator-train, never test.", val_md))
    if references is not None:
        ref_rows = reference_table(load_references(references))
        lines += ["## Reported elsewhere (not measured here)", "",
                  f"From `{references}`. Each row says where it comes from: *paper-reported* (the authors' "
                  "own number, often with the best epoch chosen on the test split and another split and "
                  f"budget) or *third-party re-run*. Not comparable cell by cell with the tables above, "
                  f"which are {OURS} (held-out real anomalies, nothing selected on test).", "",
                  _markdown(ref_rows.set_index("source")), ""]
        tables.append(("references", "Reported elsewhere (not measured here)",
                       "paper-reported or third-party re-run; not measured here.", ref_rows.set_index("source")))
    paired_all = []
    if BASELINE in gens and len(gens) > 1:
        simple = paired_table(aug_cells, gens, dets, metrics)
        lines += [f"## Against `{BASELINE}`, paired by category and seed", "",
                  f"Mean ± std over (category, seed) of generator − `{BASELINE}` for the same detector; "
                  "(wins/pairs) counts the pairs where the generator is higher.", "", _markdown(simple), ""]
        tables.append(("paired-none", f"Against {BASELINE}, paired by category and seed",
                       "Mean ± std of generator − none; (wins/pairs).", simple))
    gains = gains_over_one_class(df, gens, dets, metrics)
    if not gains.empty:
        gain_md = gain_table(gains, gens, dets, METRIC_NAMES)
        lines += ["## Against the best one-class reference, paired by category and seed", "",
                  "Mean ± std over (category, seed) of generator → detector − the one-class reference on the same "
                  "split and normals; (wins/pairs) counts the pairs where the augmented detector is higher. The "
                  "reference is, per metric, the one-class detector with the best mean over this run (per seed "
                  f"averaged over categories, then over seeds): {reference_sentence(gains, METRIC_NAMES)}. A "
                  f"positive `{BASELINE}` row means the detector beats the one-class level with no anomaly at all; "
                  "a generator helps beyond the normals only where its row is above zero.", "",
                  _markdown(gain_md), ""]
        tables.append(("gain-one-class", "Against the best one-class reference, paired by category and seed",
                       "Mean ± std of generator → detector − best one-class reference (by run mean); "
                       "(wins/pairs).", gain_md))
    costs = cost_table(df, gens)
    if not costs.empty:
        lines += ["## Cost: generator fit and sampling, detector training", "", COST_NOTE, "", _markdown(costs, as_written=True), ""]
        tables.append(("cost", "Cost per generator", "Seconds per augmented set (fit, sampling) and per detector "
                       "cell; n/a: recorded before costs were.", costs))
        for m in headline[:1]:
            value = gain_per_cost(aug_cells, gens, dets, m, METRIC_NAMES[m])
            if not value.empty:
                lines += [f"### {METRIC_NAMES[m]} gained over `{BASELINE}` per minute of generator time", "",
                          _markdown(value, as_written=True), ""]
                tables.append((f"cost-gain-{m}", f"{METRIC_NAMES[m]} gained over {BASELINE} per generator minute",
                               "Gain = generator mean − none mean (main table); per fit-minute and per "
                               "fit + sampling minute of one set.", value))
    stat_metrics = headline or metrics
    if len(gens) > 1:
        lines += ["## Paired statistics", "",
                  "Generator − reference for the same detector, paired by (dataset, category, seed): mean "
                  "difference, 95 % paired bootstrap CI (`scipy.stats.bootstrap`, BCa, 9999 resamples, seed 0), "
                  "(wins/pairs), and the two-sided Wilcoxon signed-rank p-value Holm-corrected over each table "
                  "(`scipy.stats.wilcoxon`, `statsmodels` Holm). With n pairs the smallest exact Wilcoxon p is "
                  "2/2ⁿ (0.5 for 2 pairs, 0.031 for 6): few pairs cannot reach p < 0.05 however large the gap, so "
                  f"below {MIN_CI_PAIRS} pairs neither a CI nor a p is shown (a bootstrap of 2 values collapses "
                  "to a falsely narrow interval); the verdict's t-test is the answer there.", ""]
        for reference, heading in ((BASELINE, f"vs `{BASELINE}`"), ("best", "vs the best generator of each column")):
            if reference == BASELINE and BASELINE not in gens:
                continue
            ps = stats.paired_stats(aug_cells, gens, dets, stat_metrics, reference=reference)
            if ps.empty:
                continue
            paired_all.append(ps)
            t = stats_table(ps, gens, dets, stat_metrics)
            lines += [f"### {heading}", "", _markdown(t), ""]
            tables.append((f"stats-{reference}", f"Paired statistics {heading.replace('`', '')}",
                           "Mean difference [95% bootstrap CI] (wins/pairs) p = Holm-adjusted Wilcoxon.", t))
    if verdict_of:
        vt = verdict.verdict_table(verdict_of, METRIC_NAMES)
        lines += ["## Verdict: the comparisons behind it", "", VERDICT_NOTE, "", _markdown(vt, as_written=True), ""]
        tables.append(("verdict", "The comparisons behind the verdict",
                       "Paired t-test on (dataset, category, seed) pairs, two-sided, 5 %.", vt))
    ranks = []
    for d in dets:
        for m in stat_metrics:
            r = stats.rank_analysis(aug_cells, gens, d, m)
            if r is not None:
                ranks.append(r)
    if ranks:
        rt = rank_table(ranks, gens)
        lines += ["## Average ranks and critical difference", "",
                  "Per detector and metric, each category (seed mean) ranks the generators (1 = best, ties "
                  "averaged); Friedman test (scipy), Nemenyi post-hoc and critical difference (scikit-posthocs, "
                  "Demšar 2006). Generators whose average ranks differ by less than the CD are not distinguishable.",
                  "", _markdown(rt), ""]
        tables.append(("ranks", "Average ranks (1 = best) over categories", "Friedman test; Nemenyi CD.", rt))
        for r in ranks:
            paths = figs.cd_figure(r, METRIC_NAMES.get(r["metric"], r["metric"]), out_dir)
            figures.append((f"Critical-difference diagram, {r['detector']} {METRIC_NAMES.get(r['metric'])}", paths))
            lines += [f"![CD {r['detector']} {r['metric']}]({paths[0].name})", ""]
    elif len(gens) >= stats.MIN_RANK_GENERATORS:
        lines += ["## Average ranks and critical difference", "",
                  f"Not computed: ranks need ≥ {stats.MIN_RANK_GENERATORS} generators and ≥ "
                  f"{stats.MIN_RANK_BLOCKS} categories; this run has {len(cats)} categor{'y' if len(cats) == 1 else 'ies'}.", ""]
    if not ref.empty:
        lines += ["## One-class references (no generated anomalies)", "", _markdown(ref_md), ""]
        tables.append(("one-class", "One-class references (no generated anomalies)", "", ref_md))
    if quality.empty and notes:
        lines += ["## Generation quality", "", *[f"- {n}" for n in notes], ""]
    if not quality.empty:
        lines += ["## Generation quality", "", _markdown(quality), ""] + [f"- {n}" for n in notes]
        if any(c.startswith("mask ") for c in quality.columns):
            lines.append("- mask … W1: 1-D Wasserstein distance between the generated masks' statistic (area "
                         "fraction, connected parts, centroid) and the real generator-train masks'; lower is closer.")
        if "on-object" in quality.columns:
            lines.append("- on-object: share of the generated mask area on the object (foreground estimated per "
                         "image, mask ignored); real on-object: the same for the real generator-train masks.")
        if "KID" in quality.columns:
            lines.append("- KID: generated vs real generator-train anomalies, whole images, Inception pool3 "
                         "(network, sizes and subsets in `cells.json`); lower is closer.")
        lines.append("")
        tables.append(("quality", "Generation quality", "n/a: the weights the metric needs are missing; the reason "
                       "and the fix are in results.md and index.html.", quality))
    qcols = _quality_columns(aug_cells)
    corr = stats.quality_correlation(aug_cells, qcols, headline, dets) if qcols and headline else pd.DataFrame()
    if not corr.empty:
        ct = correlation_table(corr, dets, headline, "all")
        lines += ["## Quality ↔ detection", "",
                  "Spearman ρ (`scipy.stats.spearmanr`) across generators between each quality metric (generator "
                  "mean) and the detector's metric (generator mean); n = generators with both. Distances (KID, "
                  "mask W1) are lower-is-closer, so a negative ρ means closer-to-real sets detect better; "
                  "IC-LPIPS is diversity (higher = more diverse).", "", _markdown(ct), ""]
        tables.append(("correlation", "Quality vs detection: Spearman rho across generators", "", ct))
        per_cat = correlation_table(corr, dets, headline, "category")
        if not per_cat.empty:
            lines += ["Per category (seed means), where it has ≥ 3 generators with both values:", "",
                      _markdown(per_cat), ""]
            tables.append(("correlation-category", "Quality vs detection per category", "", per_cat))
        for d in dets:
            points = {(q, m): stats.quality_points(aug_cells, q, m, d).reindex(
                [g for g in gens if g in set(aug_cells["generator"])]).dropna() for q in qcols for m in headline}
            paths = figs.scatter_figure(points, {q: QUALITY_NAMES.get(q[4:], q) for q in qcols},
                                        {m: METRIC_NAMES[m] for m in headline}, gens, out_dir,
                                        f"quality_vs_detection_{d}", f"{d}: generation quality vs detection")
            if paths:
                figures.append((f"Quality vs detection, {d}", paths))
                lines += [f"![quality vs detection {d}]({paths[0].name})", ""]
    if not axis.empty:
        n_top = int(axis["n_synthetic"].max())
        lines += ["## Synthetic:normal ratio", "",
                  f"Each detector trained on the first n generated pairs (taken in turn from each defect type, so "
                  f"smaller sets are subsets of larger ones, all from one generator fit); ratio = n : normal "
                  f"training images. Mean ± std over seeds. The tables above use n = {n_top}; `none` makes no "
                  f"pair (flat).", ""]
        for m in headline or metrics:
            rt = ratio_table(axis, gens, dets, m)
            lines += [f"### {METRIC_NAMES.get(m, m)}", "", _markdown(rt), ""]
            tables.append((f"ratio-{m}", f"{METRIC_NAMES.get(m, m)} against the number of generated pairs", "", rt))
            paths = figs.ratio_figure(axis, ref, gens, dets, m, METRIC_NAMES.get(m, m), out_dir)
            figures.append((f"{METRIC_NAMES.get(m, m)} against the synthetic:normal ratio", paths))
            lines += [f"![{m} vs ratio]({paths[0].name})", ""]
    if len(cats) > 1:
        lines += ["## Per category", ""]
        for cat in cats:
            part = summarise(df[df["category"] == cat], metrics)
            part = part[part["generator"] != ONE_CLASS]
            t = wide_table(part, gens, dets, metrics)
            lines += [f"### {cat}", "", _markdown(t), ""]
            tables.append((f"category-{cat}", f"Per category: {cat}", "", t))
    timing = timing_table(df, gens)
    timing_note = ("A cell's own seconds: the detector's training and scoring (as MLflow's durations). The "
                   "generator's fit and sampling come before, once per set: see the cost table.")
    lines += ["## Time per job", "", timing_note, "", _markdown(timing), ""]
    tables.append(("timing", "Wall time per cell", timing_note, timing))
    for m in headline:
        bar = figs.bar_figure(aug, ref, gens, dets, m, METRIC_NAMES[m], out_dir)
        figures.insert(0, (f"{METRIC_NAMES[m]} per generator and detector", bar))
        lines += [f"![{METRIC_NAMES[m]}]({bar[0].name})", ""]

    md = out_dir / "results.md"
    write_text_atomic(md, "\n".join(lines))
    csv = out_dir / "results.csv"
    write_text_atomic(csv, summary.assign(generator=summary["generator"].replace(ONE_CLASS, "one-class"))
                      .to_csv(index=False, float_format="%.6f"))
    signal = out_dir / "signal.csv"
    write_text_atomic(signal, check.to_csv(index=False, float_format="%.6f"))
    verdict_csv = out_dir / "verdict.csv"
    write_text_atomic(verdict_csv, verdict.verdict_frame(verdict_of).to_csv(index=False, float_format="%.6g"))
    paths = [md, csv, signal, verdict_csv]
    if paired_all:
        paired_csv = out_dir / "paired.csv"
        write_text_atomic(paired_csv, pd.concat(paired_all).to_csv(index=False, float_format="%.6g"))
        paths.append(paired_csv)
    if not gains.empty:
        gains_csv = out_dir / "gains_one_class.csv"
        write_text_atomic(gains_csv, gains.to_csv(index=False, float_format="%.6g"))
        paths.append(gains_csv)
    if not corr.empty:
        corr_csv = out_dir / "correlation.csv"
        write_text_atomic(corr_csv, corr.to_csv(index=False, float_format="%.6g"))
        paths.append(corr_csv)

    groups = [*dets, *ref_dets]
    body = []
    for key, heading, intro, frame in tables:
        frame = main_tex if key == "main" else frame
        if frame.empty:
            continue
        body.append(tex.table(frame, caption=heading, label=tex.label_of(key), groups=groups, note=intro))
    tex_path = out_dir / "results.tex"
    write_text_atomic(tex_path, tex.results_file(body))
    doc_body = []
    if sentences:  # the PDF opens with what the numbers support, as the Markdown and HTML do
        doc_body += [r"\section*{Verdict}", tex.itemize(sentences), tex.escape(re.sub(r"`", "", VERDICT_NOTE))]
    if not check.empty:
        doc_body += [r"\section*{Signal check}", tex.itemize([s_[2:] for s_ in _signal_lines(check)]),
                     tex.itemize([w.lstrip("> ") for w in _signal_warnings(check) if w.strip()])]
    doc_body += [r"\input{results.tex}", r"\clearpage"]
    doc_body += [tex.figure(p[1].name, caption, tex.label_of("fig-" + p[1].stem)) for caption, p in figures]
    doc = out_dir / "report.tex"
    write_text_atomic(doc, tex.document(title, "\n".join(doc_body)))
    paths += [tex_path, doc]
    for _, p in figures:
        paths += p
    write_text_atomic(out_dir / "cells.json",
                      json.dumps(df.replace({np.nan: None}).to_dict(orient="records"), indent=1, default=str))
    paths.append(out_dir / "cells.json")
    from harness.report_html import write_html

    paths.append(write_html(out_dir / "index.html", title=title, run_dir=run_dir, df=df, gens=gens,
                            signal_lines=_signal_lines(check), warnings=_signal_warnings(check),
                            tables=tables, figures=figures, notes=notes, verdict=sentences,
                            verdict_note=VERDICT_NOTE, files=paths))
    return paths
