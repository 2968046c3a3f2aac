"""What a run lets a reader conclude: one plain sentence per detector and metric.

The signal check's spread (max − min of generator means) says only that *something* differs;
with the baseline among the generators (`none`: a plug-in that makes no pair, `harness.baseline`)
it mostly says that augmenting beats not augmenting. A reader wants the order of the generators
that augment and whether the top of it is real. So:

* the generators that augment (every one but the baseline) are ordered by their mean (per seed,
  categories averaged, as in the main table), and each one is compared with the next one
  down, paired by (dataset, category, seed);
* separately, each of them is compared with the baseline on the same pairs;
* a comparison is "separable" when a two-sided paired t-test (`scipy.stats.ttest_1samp` on the
  differences) gives p < 0.05; otherwise the two *tie*. The t-test, not the Wilcoxon test of the
  statistics tables: with n pairs the exact Wilcoxon p cannot go below 2/2ⁿ (0.5 for 2 pairs),
  so it could never call a clear winner of a 2-seed run, while the t-interval widens honestly
  with few pairs (t₀.₉₇₅ = 12.7 with 2 pairs) instead of collapsing like a bootstrap of 2 values.
  Below `MIN_TEST_PAIRS` nothing is tested and the sentence says how many pairs are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from harness.baseline import FROM_LABELS, resolve, run_baseline

PAIR_KEYS = ["dataset", "category", "seed"]
ALPHA = 0.05
#: a paired t-test needs two differences to estimate their spread
MIN_TEST_PAIRS = 2
VERDICT_COLUMNS = ["detector", "metric", "upper", "lower", "n_pairs", "mean_diff", "ci_low", "ci_high", "p",
                   "wins", "call"]


@dataclass(frozen=True)
class Comparison:
    """`upper` − `lower` on the pairs both finished; `call` is ">", "<" (separable) or "≈" (tie or untested)."""

    upper: str
    lower: str
    n_pairs: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p: float
    wins: int

    @property
    def tested(self) -> bool:
        return self.n_pairs >= MIN_TEST_PAIRS

    @property
    def call(self) -> str:
        if not self.tested or not self.p < ALPHA:
            return "≈"
        return ">" if self.mean_diff > 0 else "<"


def paired_t(diff: np.ndarray) -> tuple[float, float, float]:
    """(p, 95 % CI low, high) of the mean paired difference by the one-sample t-test; NaNs below 2 pairs.

    Identical non-zero differences have no spread: scipy's t is then infinite; we call that
    p = 0 with the point as its interval, and identical zeros p = 1."""
    from scipy.stats import ttest_1samp

    d = np.asarray(diff, float)
    if len(d) < MIN_TEST_PAIRS:
        return np.nan, np.nan, np.nan
    if np.allclose(d, d[0], rtol=0, atol=1e-12):
        return (1.0 if d[0] == 0 else 0.0), float(d[0]), float(d[0])
    res = ttest_1samp(d, 0.0)
    ci = res.confidence_interval(1 - ALPHA)
    return float(res.pvalue), float(ci.low), float(ci.high)


def compare(df: pd.DataFrame, upper: str, lower: str, detector: str, metric: str) -> Comparison:
    """Paired comparison of two generators for one detector and metric."""
    part = df[df["detector"] == detector]
    a = part[part["generator"] == upper].set_index(PAIR_KEYS)[metric]
    b = part[part["generator"] == lower].set_index(PAIR_KEYS)[metric]
    joined = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    diff = (joined["a"] - joined["b"]).to_numpy(float)
    p, low, high = paired_t(diff)
    return Comparison(upper, lower, len(diff), float(diff.mean()) if len(diff) else np.nan, low, high, p,
                      int((diff > 0).sum()))


def generator_means(df: pd.DataFrame, generators: Sequence[str], detector: str, metric: str) -> pd.Series:
    """Mean over seeds of each seed's category mean, best first (ties keep the spec's order)."""
    part = df[(df["detector"] == detector) & df["generator"].isin(generators)]
    if metric not in part.columns:
        return pd.Series(dtype=float)
    means = part.groupby(["generator", "seed"])[metric].mean().groupby("generator").mean().dropna()
    order = [g for g in generators if g in means.index]
    return means.reindex(order).sort_values(ascending=False, kind="stable")


@dataclass(frozen=True)
class Verdict:
    detector: str
    metric: str
    order: list[str]  # generators that augment, best first
    steps: list[Comparison]  # order[i] vs order[i + 1]
    vs_baseline: list[Comparison]  # each of `order` vs the baseline (empty without one)
    baseline: str | None = None  # the label of the generator that makes no pair

    def comparisons(self) -> list[Comparison]:
        return [*self.steps, *self.vs_baseline]


def verdicts(df: pd.DataFrame, generators: Sequence[str], detectors: Sequence[str],
             metrics: Sequence[str], *, baseline: str | None = FROM_LABELS) -> list[Verdict]:
    """One `Verdict` per (detector, metric) with at least one generator that augments.

    `baseline`: the label of the generator that makes no pair, None for a run without one."""
    out = []
    baseline = resolve(baseline, generators)
    augmenting = [g for g in generators if g != baseline]
    for d in detectors:
        for m in metrics:
            if m not in df.columns:
                continue
            order = list(generator_means(df, augmenting, d, m).index)
            if not order:
                continue
            steps = [compare(df, a, b, d, m) for a, b in zip(order, order[1:])]
            has_base = baseline in generators and not generator_means(df, [baseline], d, m).empty
            vs = [compare(df, g, baseline, d, m) for g in order] if baseline is not None and has_base else []
            out.append(Verdict(d, m, order, steps, vs, baseline))
    return out


def _pairs_needed(c: Comparison) -> str:
    return f"{c.n_pairs} pair{'s' if c.n_pairs != 1 else ''}; a paired test needs ≥ {MIN_TEST_PAIRS}"


def sentence(v: Verdict, metric_name: str) -> str:
    """e.g. "seg, P-AP: copy-paste ≈ draem > cutpaste; copy-paste and draem tie (…); all 3 beat none." """
    chain = v.order[0] + "".join(f" {s.call if s.call != '<' else '≈'} {s.lower}" for s in v.steps)
    parts = [f"{v.detector}, {metric_name}: {chain}"]
    if v.steps:
        top = v.steps[0]
        if not top.tested:
            parts.append(f"{top.upper} and {top.lower} cannot be separated ({_pairs_needed(top)})")
        elif top.call == ">":
            parts.append(f"{top.upper} is ahead of {top.lower} ({top.mean_diff:+.3f}, p {top.p:.2g}, "
                         f"{top.n_pairs} pairs)")
        else:
            parts.append(f"{top.upper} and {top.lower} tie ({top.mean_diff:+.3f}, p {top.p:.2g}, "
                         f"{top.n_pairs} pairs)")
    else:
        parts.append(f"{v.order[0]} is the only generator that augments")
    if v.vs_baseline and v.baseline is not None:
        parts.append(_baseline_clause(v.vs_baseline, v.baseline))
    return "; ".join(parts) + "."


def _baseline_clause(vs: list[Comparison], baseline: str) -> str:
    if not any(c.tested for c in vs):
        return f"against {baseline}: untested ({_pairs_needed(vs[0])})"
    above = [c.upper for c in vs if c.call == ">"]
    below = [c.upper for c in vs if c.call == "<"]
    tied = [c.upper for c in vs if c.call == "≈"]
    n = len(vs)
    if len(above) == n:
        return f"{'all ' + str(n) if n > 1 else above[0]} beat{'s' if n == 1 else ''} {baseline}"
    bits = []
    if above:
        bits.append(f"{', '.join(above)} beat{'s' if len(above) == 1 else ''} {baseline}")
    if tied:
        bits.append(f"{', '.join(tied)} tie{'s' if len(tied) == 1 else ''} with {baseline}")
    if below:
        bits.append(f"{', '.join(below)} {'is' if len(below) == 1 else 'are'} below {baseline}")
    return ", ".join(bits)


def verdict_lines(results: pd.DataFrame, generators: Sequence[str] | None = None,
                  detectors: Sequence[str] | None = None, metrics: Sequence[str] = ("pixel_ap", "image_auroc"),
                  metric_names: dict[str, str] | None = None, *, baseline: str | None = FROM_LABELS) -> list[str]:
    """The report's top sentences from a results frame (`harness.report.collect_results`); what `bench run` prints.

    Without orders, generators and detectors come in the frame's order; one-class rows are ignored."""
    from harness.cells import ONE_CLASS

    cells = results[results["generator"] != ONE_CLASS]
    gens = list(generators) if generators else list(dict.fromkeys(cells["generator"]))
    dets = list(detectors) if detectors else list(dict.fromkeys(cells["detector"]))
    names = metric_names or {}
    return [sentence(v, names.get(v.metric, v.metric)) for v in verdicts(cells, gens, dets, metrics, baseline=baseline)]


def verdict_table(vs: list[Verdict], metric_names: dict[str, str] | None = None) -> pd.DataFrame:
    """Every comparison behind the sentences: Δ, 95 % t-interval, p, wins/pairs and the call."""
    names = metric_names or {}
    rows = []
    for v in vs:
        for c in v.comparisons():
            if c.tested:
                ci = f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]"
                p = f"{c.p:.2g}"
                call = {">": "higher", "<": "lower", "≈": "tie"}[c.call]
            else:
                ci = p = f"needs ≥ {MIN_TEST_PAIRS} pairs"
                call = "untested"
            rows.append({"detector · metric": f"{v.detector} · {names.get(v.metric, v.metric)}",
                         "comparison": f"{c.upper} − {c.lower}", "Δ": f"{c.mean_diff:+.3f}", "95 % t-CI": ci,
                         "p": p, "wins/pairs": f"{c.wins}/{c.n_pairs}", "call": call})
    out = pd.DataFrame(rows)
    return out.set_index("detector · metric") if len(out) else out


def verdict_frame(vs: list[Verdict]) -> pd.DataFrame:
    """The same comparisons unrounded, for `verdict.csv`."""
    rows = [{"detector": v.detector, "metric": v.metric, "upper": c.upper, "lower": c.lower, "n_pairs": c.n_pairs,
             "mean_diff": c.mean_diff, "ci_low": c.ci_low, "ci_high": c.ci_high, "p": c.p, "wins": c.wins,
             "call": c.call} for v in vs for c in v.comparisons()]
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS)


def run_verdict(run_dir: Path, generators: Sequence[str] = (), detectors: Sequence[str] = ()) -> list[str]:
    """The verdict of a run folder's finished cells (the main table's cells: largest count of a ratio axis),
    as the report opens with; what `bench run` prints at its end. Empty without finished cells."""
    from harness.report import HEADLINE_METRICS, METRIC_NAMES, collect_results, split_ratio_axis

    df = collect_results(run_dir)
    if df.empty:
        return []
    main, _ = split_ratio_axis(df)
    metrics = [m for m in HEADLINE_METRICS if m in main.columns]
    base = run_baseline(run_dir, list(generators) or list(dict.fromkeys(main["generator"])))
    return verdict_lines(main, generators or None, detectors or None, metrics, METRIC_NAMES, baseline=base)
