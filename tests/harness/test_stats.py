import numpy as np
import pandas as pd
import pytest
import scipy.stats

from harness import stats


def _cells(values: dict[str, list[float]], categories=("c1", "c2", "c3"), seeds=(0, 1), detector="seg",
           metric="pixel_ap") -> pd.DataFrame:
    """values[generator] lists one number per (category, seed) in that order."""
    rows = []
    for g, vals in values.items():
        it = iter(vals)
        for c in categories:
            for s in seeds:
                rows.append({"dataset": "d", "category": c, "seed": s, "generator": g, "detector": detector,
                             metric: next(it)})
    return pd.DataFrame(rows)


def test_paired_stats_match_scipy_on_a_hand_built_case():
    base = [0.10, 0.12, 0.20, 0.18, 0.30, 0.33]
    diff = np.array([0.05, 0.07, -0.01, 0.04, 0.10, 0.02])
    df = _cells({"none": base, "a": list(np.add(base, diff))})
    t = stats.paired_stats(df, ["none", "a"], ["seg"], ["pixel_ap"], reference="none")
    assert len(t) == 1
    r = t.iloc[0]
    assert (r["reference"], r["generator"], r["n_pairs"], r["wins"]) == ("none", "a", 6, 5)
    assert r["mean_diff"] == pytest.approx(diff.mean())  # 0.045
    # Wilcoxon: ranks of |d| = 4,5,1,3,6,2; negative rank sum 1 → exact two-sided p = 2·2/64
    assert r["p_wilcoxon"] == pytest.approx(scipy.stats.wilcoxon(diff).pvalue) == pytest.approx(4 / 64)
    ci = scipy.stats.bootstrap((np.add(base, diff), np.array(base)), lambda x, y, axis=-1: np.mean(x - y, axis=axis),
                               paired=True, vectorized=True, method="BCa", n_resamples=9999,
                               rng=np.random.default_rng(0)).confidence_interval
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert r["ci_low"] < r["mean_diff"] < r["ci_high"] and r["ci_low"] > 0
    # deterministic: same input → same CI
    again = stats.paired_stats(df, ["none", "a"], ["seg"], ["pixel_ap"], reference="none").iloc[0]
    assert (again["ci_low"], again["ci_high"]) == (r["ci_low"], r["ci_high"])


def test_holm_over_the_whole_table_and_best_reference():
    base = [0.1] * 6
    df = _cells({"none": base, "a": [0.2, 0.3, 0.25, 0.22, 0.21, 0.4], "b": [0.5, 0.6, 0.55, 0.7, 0.52, 0.61],
                 "c": [0.09, 0.12, 0.08, 0.13, 0.11, 0.1]})
    t = stats.paired_stats(df, ["none", "a", "b", "c"], ["seg"], ["pixel_ap"], reference="none").set_index("generator")
    # a and b win all 6 pairs: exact p = 2/64; c: diffs -0.01,+0.02,-0.02,+0.03,+0.01,0 (zero dropped)
    assert t.loc["a", "p_wilcoxon"] == pytest.approx(1 / 32) and t.loc["b", "p_wilcoxon"] == pytest.approx(1 / 32)
    p_c = scipy.stats.wilcoxon(np.subtract([0.09, 0.12, 0.08, 0.13, 0.11, 0.1], 0.1)).pvalue
    assert t.loc["c", "p_wilcoxon"] == pytest.approx(p_c)
    # Holm by hand: sorted p (1/32, 1/32, p_c) × (3, 2, 1), running max
    assert t.loc["a", "p_holm"] == pytest.approx(3 / 32) and t.loc["b", "p_holm"] == pytest.approx(3 / 32)
    assert t.loc["c", "p_holm"] == pytest.approx(max(3 / 32, p_c))
    best = stats.paired_stats(df, ["none", "a", "b", "c"], ["seg"], ["pixel_ap"], reference="best")
    assert set(best["reference"]) == {"b"} and set(best["generator"]) == {"none", "a", "c"}
    assert (best["mean_diff"] < 0).all() and (best["wins"] == 0).all()


def test_constant_difference_and_too_few_pairs():
    assert stats.bootstrap_ci(np.array([0.3, 0.4, 0.5]), np.array([0.1, 0.2, 0.3])) == pytest.approx((0.2, 0.2))
    assert all(np.isnan(stats.bootstrap_ci(np.array([0.3]), np.array([0.1]))))
    assert stats.wilcoxon_p(np.zeros(4)) == 1.0
    adj = stats.holm([0.01, np.nan, 0.04])
    assert adj[0] == pytest.approx(0.02) and np.isnan(adj[1]) and adj[2] == pytest.approx(0.04)


def test_ranks_friedman_nemenyi_and_cd():
    # 4 generators on 4 categories (1 seed): a always best, d always worst; b beats c in 3 of 4 → b 2.25, c 2.75
    vals = {"a": [0.9, 0.8, 0.85, 0.95], "b": [0.6, 0.5, 0.7, 0.6], "c": [0.5, 0.6, 0.6, 0.5],
            "d": [0.1, 0.2, 0.1, 0.3]}
    df = _cells(vals, categories=("c1", "c2", "c3", "c4"), seeds=(0,))
    r = stats.rank_analysis(df, list(vals), "seg", "pixel_ap")
    assert r["avg_rank"].to_dict() == pytest.approx({"a": 1.0, "b": 2.25, "c": 2.75, "d": 4.0})
    blocks = np.array([vals[g] for g in vals]).T
    assert r["friedman_p"] == pytest.approx(scipy.stats.friedmanchisquare(*blocks.T).pvalue)
    # Demšar 2006 table 5: q_0.05 for k = 4 is 2.569 → CD = 2.569 · sqrt(4·5 / (6·4))
    assert r["cd"] == pytest.approx(2.569 * np.sqrt(20 / 24), abs=2e-3)
    assert r["nemenyi"].loc["a", "d"] < 0.05 < r["nemenyi"].loc["b", "c"]
    assert stats.rank_analysis(df[df.category.isin(["c1", "c2"])], list(vals), "seg", "pixel_ap") is None


def test_spearman_matches_scipy_and_needs_three_points():
    rows = []
    for g, (q, ap) in {"a": (0.1, 0.9), "b": (0.2, 0.7), "c": (0.4, 0.8), "d": (0.8, 0.2)}.items():
        for s in (0, 1):
            rows.append({"dataset": "d", "category": "c1", "seed": s, "generator": g, "detector": "seg",
                         "gen_kid": q, "pixel_ap": ap + 0.01 * s})
    df = pd.DataFrame(rows)
    t = stats.quality_correlation(df, ["gen_kid"], ["pixel_ap"], ["seg"])
    assert len(t) == 1 and t.iloc[0]["n"] == 4
    ref = scipy.stats.spearmanr([0.1, 0.2, 0.4, 0.8], [0.905, 0.705, 0.805, 0.205])
    assert t.iloc[0]["rho"] == pytest.approx(ref.statistic) == pytest.approx(-0.8)
    assert t.iloc[0]["p"] == pytest.approx(ref.pvalue)
    assert all(np.isnan(stats.spearman([1, 2], [2, 1])))
