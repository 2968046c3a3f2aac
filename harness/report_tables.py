"""The report's tables, each a function of the results frame (`harness.report.collect_results`).

Every builder returns a pandas frame, rows = generators (or quality metrics, detectors),
columns = detector × metric, cells already formatted; `harness.report_sections` puts them in
sections and `harness.report` writes them as Markdown, LaTeX, HTML and CSV.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from harness.baseline import FROM_LABELS, resolve
from harness.cells import ONE_CLASS
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
    # share of mask area on the object (harness.core.foreground); the real generator-train masks' as reference
    "mask_on_object": "on-object", "mask_on_object_real": "real on-object",
}



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


def in_preferred_order(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    """`values` in the order `preferred` (the spec) lists them, any others sorted after."""
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
                 metrics: Sequence[str], *, baseline: str | None = FROM_LABELS) -> pd.DataFrame:
    """Per (detector, metric): do the generators that augment differ by more than seed noise?

    ``df`` holds augmented cells only (no one-class rows). The compared generators are those
    other than `baseline` when there are ≥ 2 of them (column ``compared`` "augmenting"): with
    `baseline` in, the spread would mostly say that augmenting beats not augmenting, which
    ``vs_none`` (best mean − `baseline` mean) says on its own; otherwise all of them ("with none").
    `baseline`: the generator that makes no pair (`harness.baseline`), None for a run without one.
    effect = max − min of the compared generator means (as in `summarise`); seed_std = sqrt of
    the mean over compared generators with ≥ 2 seeds of their seed variance (ddof=1), NaN if
    none has 2; ratio = effect / seed_std. effect and ratio are NaN with fewer than 2 generators
    (verdict "n/a"). `harness.verdict` tests best against runner-up pair by pair.
    """
    summary = summarise(df, metrics)
    baseline = resolve(baseline, generators)
    augmenting = [g for g in generators if g != baseline]
    rows = []
    for d in detectors:
        for m in metrics:
            part = summary[(summary["detector"] == d) & (summary["metric"] == m)].set_index("generator")
            base = part["mean"].get(baseline, np.nan) if baseline is not None else np.nan
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


def signal_lines(check: pd.DataFrame, baseline: str | None) -> list[str]:
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
            best += f"; best − {baseline} {r.vs_none:+.3f}"
        lines.append(f"- {r.detector}: {among} on {name} {r.effect:.3f}, seed std {std} — {r.verdict} ({best})")
    return lines


def signal_warnings(check: pd.DataFrame) -> list[str]:
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



def paired_table(df: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str], metrics: Sequence[str],
                 *, baseline: str, latex: bool = False) -> pd.DataFrame:
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


def markdown(df: pd.DataFrame, *, as_written: bool = False) -> str:
    """`as_written`: cells kept as formatted ("+0.150", "10.0"), not re-parsed as numbers by tabulate."""
    if df.empty:
        return "_(no rows)_"
    return df.to_markdown(disable_numparse=True) if as_written else df.to_markdown()


def quality_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("gen_") and not c.endswith("_unavailable")
            and pd.to_numeric(df[c], errors="coerce").notna().any()]

