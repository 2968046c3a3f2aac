"""Paper-ready tables from finished cells: Markdown, LaTeX, CSV, and a figure.

Main table: rows = generators, columns = detector × metric, mean ± std over seeds (each
seed's value is first averaged over the categories), best mean per column in bold. Above it a
signal check (also ``signal.csv``): per detector × metric, the spread of the generator means
against the pooled seed std, with a bold "do not rank these" warning where the pixel-AP or
image-AUROC differences are within seed noise or rest on one seed. Then each
generator against no augmentation (``none``), paired by category and seed: the seed-to-seed
spread of the main table is mostly shared by all generators (same split, same canvases), so the
paired difference is the sharper answer to "by how much".
One-class references (which use no generated anomalies) get their own table, and the
generation-quality numbers (IS, IC-LPIPS, mask statistics) theirs, with "n/a" where the
weights a metric needs are missing — the reason is printed under the table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from harness.cells import ONE_CLASS, CellStore

METRIC_NAMES = {
    "image_auroc": "I-AUROC", "image_ap": "I-AP", "image_f1max": "I-F1max",
    "pixel_auroc": "P-AUROC", "pixel_ap": "P-AP", "pixel_f1max": "P-F1max",
    "pixel_aupro": "AUPRO", "spro": "sPRO",
}
QUALITY_NAMES = {
    "is": "IS", "ic_lpips": "IC-LPIPS",
    # 1-D Wasserstein distances, generated vs real generator-train masks (lower = closer)
    "mask_area_wd": "mask area W1", "mask_count_wd": "mask parts W1", "mask_pos_wd": "mask position W1",
}


def collect_results(run_dir: Path) -> pd.DataFrame:
    """One row per finished cell, metrics as columns (generation metrics prefixed ``gen_``)."""
    rows = []
    for rec in CellStore(run_dir).records():
        k = rec.key
        row = {"dataset": k.dataset, "category": k.category, "generator": k.generator, "detector": k.detector,
               "seed": k.seed, "n_generated": rec.n_generated, "seconds": rec.seconds, **rec.metrics}
        for name, res in rec.generation.items():
            row[f"gen_{name}"] = res.get("value")
            if res.get("value") is None:
                row[f"gen_{name}_unavailable"] = res.get("unavailable")
        rows.append(row)
    return pd.DataFrame(rows)


def _order(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    seen = [v for v in preferred if v in set(values)]
    return seen + sorted(set(values) - set(seen))


def summarise(df: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Long table: generator, detector, metric, mean, std, n_seeds (categories averaged per seed)."""
    metrics = [m for m in metrics if m in df.columns]
    per_seed = df.groupby(["generator", "detector", "seed"])[metrics].mean().reset_index()
    long = per_seed.melt(id_vars=["generator", "detector", "seed"], var_name="metric", value_name="value")
    agg = long.groupby(["generator", "detector", "metric"])["value"].agg(["mean", "std", "count"]).reset_index()
    return agg.rename(columns={"count": "n_seeds"})


SIGNAL_RATIO = 3.0
"""Generator effect (max − min of the generator means) in pooled seed stds from which a column
counts as a signal. With a handful of generators, a spread of 3 seed stds is unlikely from seed
noise alone; a screening rule, not a test — the paired tables say more."""
WEAK_RATIO = 2.0
"""Below this the spread is what seed noise alone gives routinely; between it and SIGNAL_RATIO, "weak"."""
#: the metrics a table is ranked by: the signal check warns on these, the figure shows the first present
HEADLINE_METRICS = ("pixel_ap", "image_auroc")
UNKNOWN = "unknown (1 seed)"
SIGNAL_COLUMNS = ["detector", "metric", "effect", "seed_std", "ratio", "verdict", "best", "n_generators", "n_seeds"]


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
                 metrics: Sequence[str]) -> pd.DataFrame:
    """Per (detector, metric): do the generator means differ by more than seed noise?

    ``df`` holds augmented cells only (no one-class rows). effect = max − min of the generator
    means (as in `summarise`); seed_std = sqrt of the mean over generators with ≥ 2 seeds of
    their seed variance (ddof=1), NaN if none has 2; ratio = effect / seed_std. effect and ratio
    are NaN with fewer than 2 generators (verdict "n/a").
    """
    summary = summarise(df, metrics)
    rows = []
    for d in detectors:
        for m in metrics:
            part = summary[(summary["detector"] == d) & (summary["metric"] == m)].set_index("generator")
            part = part.reindex([g for g in generators if g in part.index]).dropna(subset=["mean"])
            if part.empty:
                continue
            var = part.loc[part["n_seeds"] >= 2, "std"] ** 2
            seed_std = float(np.sqrt(var.mean())) if len(var) else np.nan
            n_gen = len(part)
            effect = float(part["mean"].max() - part["mean"].min()) if n_gen >= 2 else np.nan
            ratio = _ratio(effect, seed_std) if n_gen >= 2 else np.nan
            rows.append({"detector": d, "metric": m, "effect": effect, "seed_std": seed_std, "ratio": ratio,
                         "verdict": _verdict(n_gen, seed_std, ratio), "best": part["mean"].idxmax(),
                         "n_generators": n_gen, "n_seeds": int(part["n_seeds"].max())})
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
        lines.append(f"- {r.detector}: generator effect on {name} {r.effect:.3f}, seed std {std} — "
                     f"{r.verdict} (best: {r.best})")
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
            table.loc[g, label] = f"{vals.mean():.3f}" if len(vals) else "n/a"
        reasons = one_per_gen.get(f"{c}_unavailable")
        if reasons is not None and reasons.notna().any():
            notes.append(f"{label}: n/a — {reasons.dropna().iloc[0]}")
    table.index.name = "generator"
    return table, notes


BASELINE = "none"


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


def _markdown(df: pd.DataFrame) -> str:
    return df.to_markdown() if not df.empty else "_(no rows)_"


def write_report(run_dir: Path, out_dir: Path, *, title: str, metrics: Sequence[str],
                 generator_order: Sequence[str] = (), detector_order: Sequence[str] = ()) -> list[Path]:
    """Render the report files; returns their paths. Raises if no cell has finished."""
    df = collect_results(run_dir)
    if df.empty:
        raise FileNotFoundError(f"{run_dir}: no finished cells to report; run `bench run SPEC` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    all_metrics = [m for m in METRIC_NAMES if m in df.columns]
    metrics = [m for m in metrics if m in df.columns]
    summary = summarise(df, all_metrics)
    gens = _order([g for g in df["generator"].unique() if g != ONE_CLASS], generator_order)
    aug = summary[summary["generator"] != ONE_CLASS]
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
    check = signal_check(df[df["generator"] != ONE_CLASS], gens, dets, metrics)

    lines = [f"# {title}", "",
             f"Categories: {', '.join(cats)} · seeds: {', '.join(map(str, seeds))} · "
             f"mean ± std over seeds (per seed, averaged over categories); best per column in bold.", ""]
    if not check.empty:
        lines += ["## Signal check", "",
                  "Generator effect = max − min of the generator means; seed std = pooled over generators. "
                  f"≥ {SIGNAL_RATIO:g}× is a signal, {WEAK_RATIO:g}–{SIGNAL_RATIO:g}× weak, below noise: a "
                  f"screening rule, not a test (the paired table against `{BASELINE}`, where present, says more).",
                  "", *_signal_lines(check), ""]
    lines += ["## Detectors trained with each generator's anomalies", "", *_signal_warnings(check),
              _markdown(main_md), ""]
    if BASELINE in gens and len(gens) > 1:
        lines += [f"## Against `{BASELINE}`, paired by category and seed", "",
                  f"Mean ± std over (category, seed) of generator − `{BASELINE}` for the same detector; "
                  "(wins/pairs) counts the pairs where the generator is higher.", "",
                  _markdown(paired_table(df[df["generator"] != ONE_CLASS], gens, dets, metrics)), ""]
    if not ref.empty:
        lines += ["## One-class references (no generated anomalies)", "", _markdown(ref_md), ""]
    if not quality.empty:
        lines += ["## Generation quality", "", _markdown(quality), ""] + [f"- {n}" for n in notes]
        if any(c.startswith("mask ") for c in quality.columns):
            lines.append("- mask … W1: 1-D Wasserstein distance between the generated masks' statistic (area "
                         "fraction, connected parts, centroid) and the real generator-train masks'; lower is closer.")
        lines.append("")
    if len(cats) > 1:
        lines += ["## Per category", ""]
        for cat in cats:
            part = summarise(df[df["category"] == cat], metrics)
            part = part[part["generator"] != ONE_CLASS]
            lines += [f"### {cat}", "", _markdown(wide_table(part, gens, dets, metrics)), ""]
    md = out_dir / "results.md"
    md.write_text("\n".join(lines))
    csv = out_dir / "results.csv"
    summary.assign(generator=summary["generator"].replace(ONE_CLASS, "one-class")).to_csv(csv, index=False, float_format="%.6f")
    signal = out_dir / "signal.csv"
    check.to_csv(signal, index=False, float_format="%.6f")
    tex = out_dir / "results.tex"
    tex.write_text(main_tex.style.to_latex(hrules=True, column_format="l" + "c" * len(main_tex.columns)))
    paths = [md, csv, signal, tex]
    fig = _figure(aug, gens, dets, out_dir)
    if fig is not None:
        paths.append(fig)
    (out_dir / "cells.json").write_text(json.dumps(df.replace({np.nan: None}).to_dict(orient="records"), indent=1, default=str))
    return paths


def _figure(summary: pd.DataFrame, gens: Sequence[str], dets: Sequence[str], out_dir: Path) -> Path | None:
    metric = next((m for m in HEADLINE_METRICS if (summary["metric"] == m).any()), None)
    if metric is None or not gens or not dets:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = summary[summary["metric"] == metric]
    fig, ax = plt.subplots(figsize=(min(12.0, 2.0 + 0.7 * len(gens)), 3.2), dpi=150)
    width = 0.8 / len(dets)
    x = np.arange(len(gens))
    for i, d in enumerate(dets):
        p = part[part["detector"] == d].set_index("generator").reindex(gens)
        ax.bar(x + i * width - 0.4 + width / 2, p["mean"], width, yerr=p["std"].fillna(0), label=d, capsize=2)
    ax.set_xticks(x, gens, rotation=30, ha="right")
    ax.set_ylabel(METRIC_NAMES[metric])
    top = float(np.nanmax(part["mean"] + part["std"].fillna(0))) if len(part) else 1.0
    ax.set_ylim(0, min(1.0, max(0.05, 1.15 * top)))
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out_dir / f"{metric}.png"
    fig.savefig(path)
    plt.close(fig)
    return path
