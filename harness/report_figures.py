"""The report's figures, each saved as PNG (HTML, Markdown) and PDF (LaTeX).

Conventions every figure keeps: generators in the spec's order (so `none` sits in the same
place everywhere), axis labels, error bars only where there are ≥ 2 seeds, and the one-class
detectors as dashed reference lines (they use no generated anomalies).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    from harness.fsio import atomic_path

    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    with atomic_path(paths[0]) as tmp:
        fig.savefig(tmp, format="png", dpi=150)
    with atomic_path(paths[1]) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None})  # byte-stable PDF
    _plt().close(fig)
    return paths


def bar_figure(summary: pd.DataFrame, reference: pd.DataFrame, gens: Sequence[str], dets: Sequence[str],
               metric: str, label: str, out_dir: Path) -> list[Path]:
    """Mean per generator × detector (error bars = seed std when ≥ 2 seeds); one-class as dashed lines."""
    plt = _plt()
    part = summary[summary["metric"] == metric]
    fig, ax = plt.subplots(figsize=(min(12.0, 2.5 + 0.8 * len(gens)), 3.4))
    width = 0.8 / max(1, len(dets))
    x = np.arange(len(gens))
    top = 0.0
    for i, d in enumerate(dets):
        p = part[part["detector"] == d].set_index("generator").reindex(gens)
        err = p["std"].where(p["n_seeds"] >= 2)
        yerr = None if err.isna().all() else err.fillna(0).to_numpy()
        ax.bar(x + i * width - 0.4 + width / 2, p["mean"], width, yerr=yerr, label=d, capsize=2)
        top = max(top, float(np.nanmax((p["mean"] + err.fillna(0)).to_numpy(dtype=float), initial=0.0)))
    ref = reference[reference["metric"] == metric]
    for k, r in enumerate(ref.itertuples()):
        ax.axhline(r.mean, color=f"C{len(dets) + k}", ls="--", lw=1, label=f"{r.detector} (one-class)")
        top = max(top, float(r.mean))
    ax.set_xticks(x, gens, rotation=30, ha="right")
    ax.set_xlabel("generator")
    ax.set_ylabel(label)
    ax.set_ylim(0, min(1.0, max(0.05, 1.15 * top)) if top <= 1 else 1.15 * top)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return _save(fig, out_dir, metric)


def ratio_figure(axis: pd.DataFrame, reference: pd.DataFrame, gens: Sequence[str], dets: Sequence[str],
                 metric: str, label: str, out_dir: Path) -> list[Path]:
    """One panel per detector: the metric against the synthetic:normal ratio, a line per generator
    (seed mean, categories averaged; error bars = seed std with ≥ 2 seeds); `none` and the
    one-class references as horizontal lines."""
    plt = _plt()
    counts = sorted(int(n) for n in axis["n_synthetic"].dropna().unique())
    normal = axis.loc[axis["n_normal"] > 0, "n_normal"]
    per_normal = float(normal.median()) if len(normal) else 0.0
    xs = np.array(counts, dtype=float) / per_normal if per_normal else np.array(counts, dtype=float)
    fig, axes = plt.subplots(1, len(dets), figsize=(3.6 * len(dets) + 1.6, 3.2), squeeze=False)
    for ax, d in zip(axes[0], dets):
        part = axis[axis["detector"] == d]
        for k, g in enumerate(gens):
            cells = part[part["generator"] == g]
            if cells.empty:
                continue
            if cells["n_synthetic"].isna().all():  # `none`: no pair at any ratio
                ax.axhline(cells.groupby("seed")[metric].mean().mean(), color=f"C{k}", ls=":", lw=1.2, label=g)
                continue
            per_seed = cells.dropna(subset=["n_synthetic"]).groupby(["n_synthetic", "seed"])[metric].mean()
            stats = per_seed.groupby(level=0).agg(["mean", "std", "count"]).reindex(counts)
            err = stats["std"].where(stats["count"] >= 2)
            ax.errorbar(xs, stats["mean"], yerr=None if err.isna().all() else err.fillna(0), marker="o", ms=3,
                        capsize=2, color=f"C{k}", label=g)
        ref = reference[reference["metric"] == metric]
        for j, r in enumerate(ref.itertuples()):
            ax.axhline(r.mean, color="grey", ls="--", lw=0.8 + 0.3 * j, label=f"{r.detector} (one-class)")
        ax.set_xscale("log")
        ax.set_xticks(xs, [f"{x:.2g}" for x in xs])
        ax.minorticks_off()
        ax.set_xlabel("synthetic : normal" if per_normal else "generated pairs")
        ax.set_ylabel(label)
        ax.set_title(d, fontsize=9)
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    return _save(fig, out_dir, f"ratio_{metric}")


def cd_figure(result: dict, label: str, out_dir: Path) -> list[Path]:
    """scikit-posthocs' critical-difference diagram (average ranks; bars join non-significant groups)."""
    from harness.stats import draw_cd_diagram

    plt = _plt()
    k = len(result["avg_rank"])
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.25 * k))
    draw_cd_diagram(result, ax)
    ax.set_title(f"{result['detector']} · {label}: average rank over {result['n_blocks']} categories "
                 f"(Friedman p = {result['friedman_p']:.3g}, Nemenyi CD = {result['cd']:.2f})", fontsize=8)
    fig.tight_layout()
    stem = f"cd_{_slug(result['detector'])}_{result['metric']}"
    return _save(fig, out_dir, stem)


def scatter_figure(points: dict[tuple[str, str], pd.DataFrame], qualities: dict[str, str], metrics: dict[str, str],
                   gens: Sequence[str], out_dir: Path, stem: str, title: str) -> list[Path]:
    """One panel per (quality, detection metric): a point per generator, Spearman ρ in the title."""
    from harness.stats import spearman

    plt = _plt()
    keys = [k for k in points if not points[k].empty]
    if not keys:
        return []
    ncols = min(3, len(keys))
    nrows = int(np.ceil(len(keys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows), squeeze=False)
    colours = {g: f"C{i}" for i, g in enumerate(gens)}
    for ax, (q, m) in zip(axes.flat, keys):
        pts = points[(q, m)]
        for g, r in pts.iterrows():
            ax.scatter(r[q], r[m], color=colours.get(g, "k"), label=g)
            ax.annotate(g, (r[q], r[m]), fontsize=6, xytext=(3, 3), textcoords="offset points")
        rho, p = spearman(pts[q], pts[m])
        ax.set_title(f"ρ = {rho:+.2f} (p = {p:.2g}, n = {len(pts)})" if not np.isnan(rho)
                     else f"ρ n/a (n = {len(pts)})", fontsize=8)
        ax.set_xlabel(qualities[q])
        ax.set_ylabel(metrics[m])
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, out_dir, stem)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)
