"""Statistics that say how sure a difference between generators is: paired CIs, tests, ranks, correlation.

Everything here is a thin layer over scipy / statsmodels / scikit-posthocs, chosen because a
reader of a paper trusts those implementations; our code only pairs the cells and shapes the
tables.

* Paired differences (`paired_stats`): generator − reference for the same detector, paired by
  (dataset, category, seed). 95 % CI of the mean difference by `scipy.stats.bootstrap`
  (paired resampling, BCa, a fixed seed so the report is byte-stable), a two-sided Wilcoxon
  signed-rank p-value (`scipy.stats.wilcoxon`, exact for small n) and Holm's correction over
  every row of the table (`statsmodels.stats.multitest.multipletests`). With n pairs the smallest
  exact two-sided Wilcoxon p is 2 / 2ⁿ: 0.5 with 2 pairs, 0.031 with 6 — few pairs cannot
  reach significance however large the difference, and the table says so by its p-values.
* Ranks (`rank_analysis`): per detector and metric, blocks are categories (seed means), as
  Demšar (2006) does with data sets; average ranks, the Friedman test (scipy), Nemenyi's
  post-hoc p-values (scikit-posthocs) and its critical difference, drawn by
  scikit-posthocs' `critical_difference_diagram`. Only with ≥ 3 generators and ≥ 3 categories.
  autorank was the other candidate; it refuses fewer than 5 blocks, which is the usual size of
  a CPU grid here.
* Correlation (`quality_correlation`): Spearman's ρ (scipy) between each generation-quality
  metric and a detection metric across generators.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

PAIR_KEYS = ["dataset", "category", "seed"]
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0
#: fewest pairs from which the tables show a bootstrap CI and a Wilcoxon p: the exact two-sided
#: Wilcoxon p cannot go below 2/2ⁿ (0.0625 with 5 pairs, 0.031 with 6), and a bootstrap of fewer
#: values has so few distinct resamples that its interval collapses (2 pairs: [−0.031, −0.030])
MIN_CI_PAIRS = 6
PAIRED_COLUMNS = ["reference", "detector", "metric", "generator", "n_pairs", "mean_diff", "ci_low", "ci_high",
                  "wins", "p_wilcoxon", "p_holm"]


def bootstrap_ci(x: np.ndarray, y: np.ndarray, *, seed: int = BOOTSTRAP_SEED,
                 confidence: float = CONFIDENCE, n_resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """95 % BCa CI of mean(x − y) with pairs resampled together; (d, d) when every difference is d.

    NaN for fewer than 2 pairs. scipy's BCa is undefined on constant data (it warns and returns
    NaN); a constant difference has no sampling spread, so its CI is the point itself.
    """
    from scipy.stats import bootstrap

    x, y = np.asarray(x, float), np.asarray(y, float)
    d = x - y
    if len(d) < 2:
        return np.nan, np.nan
    if np.allclose(d, d[0], rtol=0, atol=1e-12):
        return float(d[0]), float(d[0])
    res = bootstrap((x, y), lambda a, b, axis=-1: np.mean(a - b, axis=axis), paired=True, vectorized=True,
                    confidence_level=confidence, n_resamples=n_resamples, method="BCa",
                    rng=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if np.isnan(low) or np.isnan(high):  # BCa degenerate (e.g. 2 distinct values): percentile instead
        res = bootstrap((x, y), lambda a, b, axis=-1: np.mean(a - b, axis=axis), paired=True, vectorized=True,
                        confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                        rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return low, high


def wilcoxon_p(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of the paired differences; 1.0 when all are zero, NaN with none."""
    from scipy.stats import wilcoxon

    d = np.asarray(diff, float)
    if len(d) == 0:
        return np.nan
    if np.all(d == 0):
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-n / ties notices; the p-value is what we report
        return float(wilcoxon(d).pvalue)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (statsmodels), NaN entries left NaN and not counted."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def best_generators(df: pd.DataFrame, generators: Sequence[str], detector: str, metric: str) -> str | None:
    """The generator with the highest mean of per-seed category means (the main table's bold cell)."""
    part = df[(df["detector"] == detector) & df["generator"].isin(generators)]
    if metric not in part.columns or part[metric].isna().all():
        return None
    per_seed = part.groupby(["generator", "seed"])[metric].mean().groupby("generator").mean().dropna()
    return str(per_seed.idxmax()) if len(per_seed) else None


def paired_stats(df: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str], metrics: Sequence[str],
                 *, reference: str, seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """One row per (detector, metric, generator ≠ reference): generator − reference over shared pairs.

    `reference` is a generator name, or ``"best"`` for each (detector, metric)'s best generator.
    Holm's correction runs over all rows of the returned table. Rows with fewer than
    `MIN_CI_PAIRS` pairs get no CI and no p (NaN) and are left out of the correction.
    """
    rows = []
    for d in detectors:
        for m in metrics:
            if m not in df.columns:
                continue
            ref = best_generators(df, generators, d, m) if reference == "best" else reference
            if ref is None or ref not in generators:
                continue
            part = df[df["detector"] == d]
            base = part[part["generator"] == ref].set_index(PAIR_KEYS)[m]
            for g in generators:
                if g == ref:
                    continue
                other = part[part["generator"] == g].set_index(PAIR_KEYS)[m]
                joined = pd.concat([other.rename("g"), base.rename("ref")], axis=1, join="inner").dropna()
                if joined.empty:
                    continue
                diff = (joined["g"] - joined["ref"]).to_numpy()
                enough = len(diff) >= MIN_CI_PAIRS
                low, high = (bootstrap_ci(joined["g"].to_numpy(), joined["ref"].to_numpy(), seed=seed) if enough
                             else (np.nan, np.nan))
                rows.append({"reference": ref, "detector": d, "metric": m, "generator": g, "n_pairs": len(diff),
                             "mean_diff": float(diff.mean()), "ci_low": low, "ci_high": high,
                             "wins": int((diff > 0).sum()), "p_wilcoxon": wilcoxon_p(diff) if enough else np.nan})
    out = pd.DataFrame(rows, columns=PAIRED_COLUMNS)
    out["p_holm"] = holm(out["p_wilcoxon"].to_numpy()) if len(out) else []
    return out


# --------------------------------------------------------------------------------- ranks, CD


MIN_RANK_GENERATORS = 3
MIN_RANK_BLOCKS = 3


def rank_blocks(df: pd.DataFrame, generators: Sequence[str], detector: str, metric: str) -> pd.DataFrame:
    """Blocks × generators: each (dataset, category)'s seed mean; blocks missing a generator dropped."""
    part = df[(df["detector"] == detector) & df["generator"].isin(generators)]
    if metric not in part.columns:
        return pd.DataFrame()
    wide = part.groupby(["dataset", "category", "generator"])[metric].mean().unstack("generator")
    wide = wide.reindex(columns=[g for g in generators if g in wide.columns]).dropna()
    wide.index = [f"{ds}/{c}" for ds, c in wide.index]
    return wide


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks: q_α(k, ∞)/√2 · √(k(k+1)/(6n)) (Demšar 2006, eq. 5)."""
    from scipy.stats import studentized_range

    q = studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6.0 * n)))


def rank_analysis(df: pd.DataFrame, generators: Sequence[str], detector: str, metric: str,
                  alpha: float = 0.05) -> dict | None:
    """Average ranks (1 = best, ties averaged), Friedman p, Nemenyi p-matrix and CD; None if too few."""
    import scikit_posthocs as sp
    from scipy.stats import friedmanchisquare

    blocks = rank_blocks(df, generators, detector, metric)
    if blocks.shape[1] < MIN_RANK_GENERATORS or blocks.shape[0] < MIN_RANK_BLOCKS:
        return None
    ranks = blocks.rank(axis=1, ascending=False, method="average")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        friedman = friedmanchisquare(*[blocks[g].to_numpy() for g in blocks.columns])
        nemenyi = sp.posthoc_nemenyi_friedman(blocks.to_numpy())
    nemenyi.index = nemenyi.columns = list(blocks.columns)
    return {"detector": detector, "metric": metric, "blocks": list(blocks.index), "n_blocks": blocks.shape[0],
            "avg_rank": ranks.mean().sort_values(), "friedman_p": float(friedman.pvalue), "nemenyi": nemenyi,
            "cd": nemenyi_cd(blocks.shape[1], blocks.shape[0], alpha), "alpha": alpha}


def draw_cd_diagram(result: dict, ax) -> None:
    """scikit-posthocs' critical-difference diagram of one `rank_analysis` result on `ax`."""
    import scikit_posthocs as sp

    sp.critical_difference_diagram(result["avg_rank"], result["nemenyi"], ax=ax, alpha=result["alpha"],
                                   label_fmt_left="{label} ({rank:.2f})", label_fmt_right="({rank:.2f}) {label}")


# ------------------------------------------------------------------------------- correlation

CORRELATION_COLUMNS = ["detector", "quality", "metric", "scope", "n", "rho", "p"]
MIN_CORRELATION_POINTS = 3


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """scipy's Spearman ρ and two-sided p; NaN for < 3 points or a constant side (ρ undefined)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < MIN_CORRELATION_POINTS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def quality_points(df: pd.DataFrame, quality: str, metric: str, detector: str,
                   category: str | None = None) -> pd.DataFrame:
    """Per generator: mean quality value and mean detection metric over the cells both have."""
    part = df[(df["detector"] == detector) & df[quality].notna() & df[metric].notna()]
    if category is not None:
        part = part[part["category"] == category]
    q = pd.to_numeric(part[quality], errors="coerce")
    return (part.assign(_q=q).dropna(subset=["_q"]).groupby("generator")[["_q", metric]].mean()
            .rename(columns={"_q": quality}))


def quality_correlation(df: pd.DataFrame, qualities: Sequence[str], metrics: Sequence[str],
                        detectors: Sequence[str]) -> pd.DataFrame:
    """Spearman ρ across generators of each quality column vs each detection metric, per detector.

    scope "all": generator means over every category and seed; scope "<dataset/category>": that
    category's seed means, where it has ≥ 3 generators with both values.
    """
    rows = []
    for d in detectors:
        for q in qualities:
            if q not in df.columns:
                continue
            for m in metrics:
                if m not in df.columns:
                    continue
                scopes: list[tuple[str, str | None]] = [("all", None)]
                if df["category"].nunique() > 1:
                    scopes += [(c, c) for c in sorted(df["category"].unique())]
                for label, cat in scopes:
                    pts = quality_points(df, q, m, d, cat)
                    if label != "all" and len(pts) < MIN_CORRELATION_POINTS:
                        continue
                    rho, p = spearman(pts[q], pts[m])
                    rows.append({"detector": d, "quality": q, "metric": m, "scope": label, "n": len(pts),
                                 "rho": rho, "p": p})
    return pd.DataFrame(rows, columns=CORRELATION_COLUMNS)
