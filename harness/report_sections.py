"""The report's sections, one builder each, in the order `results.md` shows them.

A builder reads the run's cells, summarised once (`ReportData`), and appends to `ReportParts`:
Markdown lines, the tables the LaTeX and HTML files repeat, figures, and the extra CSV files.
`harness.report.write_report` runs `SECTIONS` in order and writes the files; a new section is
one function added to that tuple, not an edit inside a 200-line function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from harness.cells import ONE_CLASS
from harness.references import OURS, load_references, reference_table
from harness.report_cost import cost_table, gain_per_cost
from harness.report_gains import gain_table, gains_over_one_class, reference_sentence
from harness.report_tables import (HEADLINE_METRICS, METRIC_NAMES, QUALITY_NAMES, SIGNAL_RATIO, VALIDATION_METRIC,
                                   WEAK_RATIO, markdown, quality_columns, signal_lines, signal_warnings,
                                   correlation_table, paired_table, quality_table, rank_table, ratio_table,
                                   signal_check, stats_table, summarise, timing_table, wide_table)

COST_NOTE = ("A generator is fitted and sampled once per (dataset, category, seed) set, before its detectors: "
             "fit and sampling seconds are per set (mean), GPU-seconds = fit + sampling on one GPU (n/a on CPU); "
             "detector s / cell are the cells' own seconds (what MLflow's durations show); total = every set's "
             "fit + sampling + every cell. A fit reused from the run's cache (`fits/`) costs ~0 here.")


def verdict_note(baseline: str | None) -> str:
    """How to read the verdict; the baseline clause only where the run has a generator that makes no pair."""
    against = f"Separately, each is compared with `{baseline}` the same way. " if baseline else ""
    return ("How to read it: the generators that augment are ordered by mean, and each is compared with the "
            "next one down, paired by (dataset, category, seed), by a two-sided paired t-test "
            "(`scipy.stats.ttest_1samp` on the differences): `>` where p < 0.05, `≈` (a tie) otherwise. "
            f"{against}A comparison needs ≥ 2 pairs. Each test "
            "is at 5 %, not adjusted for how many the sentence holds; `≈` between neighbours says nothing "
            "about generators further apart (see the comparisons table and the paired statistics).")


@dataclass
class ReportData:
    """What every section reads: the run's cells and their summaries, computed once."""

    title: str
    out_dir: Path
    df: pd.DataFrame  # the main tables' cells (largest count of a ratio axis), one-class rows included
    axis: pd.DataFrame  # every augmented cell of a ratio axis, or empty
    folder_notes: list[str]
    metrics: list[str]  # the report's metrics present in the cells
    headline: list[str]  # HEADLINE_METRICS present in the cells
    summary: pd.DataFrame  # `summarise` of every metric
    gens: list[str]  # generator labels, in the spec's order
    dets: list[str]  # detectors trained with generated pairs
    ref_dets: list[str]  # one-class detectors
    baseline: str | None  # the label of the generator that makes no pair (`harness.baseline`)
    references: Path | None

    @property
    def aug(self) -> pd.DataFrame:
        return self.summary[self.summary["generator"] != ONE_CLASS]

    @property
    def aug_cells(self) -> pd.DataFrame:
        return self.df[self.df["generator"] != ONE_CLASS]

    @property
    def ref(self) -> pd.DataFrame:
        return self.summary[self.summary["generator"] == ONE_CLASS]

    @property
    def cats(self) -> list[str]:
        return sorted(self.df["category"].unique())

    @property
    def seeds(self) -> list[int]:
        return sorted(self.df["seed"].unique())


@dataclass
class ReportParts:
    """What the sections build: (key, heading, intro, frame) tables, (caption, paths) figures, CSV frames."""

    data: ReportData
    check: pd.DataFrame
    verdicts: list
    sentences: list[str]
    quality: pd.DataFrame
    quality_notes: list[str]
    lines: list[str] = field(default_factory=list)
    tables: list[tuple[str, str, str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, list[Path]]] = field(default_factory=list)
    main_tex: pd.DataFrame | None = None  # the main table with LaTeX cells
    extra_csv: dict[str, pd.DataFrame] = field(default_factory=dict)  # file name → frame (6 significant digits)

    @property
    def signal_lines(self) -> list[str]:
        return signal_lines(self.check, self.data.baseline)

    @property
    def signal_warnings(self) -> list[str]:
        return signal_warnings(self.check)


def analyse(data: ReportData) -> ReportParts:
    """The analyses more than one section (and file) shows: signal check, verdict, generation quality."""
    from harness import verdict

    check = signal_check(data.aug_cells, data.gens, data.dets, data.metrics, baseline=data.baseline)
    verdict_of = verdict.verdicts(data.aug_cells, data.gens, data.dets, data.headline or data.metrics,
                                  baseline=data.baseline)
    sentences = [verdict.sentence(v, METRIC_NAMES.get(v.metric, v.metric)) for v in verdict_of]
    quality, notes = quality_table(data.df, data.gens)
    return ReportParts(data, check, verdict_of, sentences, quality, notes)


def header(d: ReportData, p: ReportParts) -> None:
    p.lines += [f"# {d.title}", "",
                f"Categories: {', '.join(d.cats)} · seeds: {', '.join(map(str, d.seeds))} · "
                f"mean ± std over seeds (per seed, averaged over categories); best per column in bold.", "",
                *[f"Note: {n}." for n in d.folder_notes], *([""] if d.folder_notes else [])]


def verdict_sentences(d: ReportData, p: ReportParts) -> None:
    if p.sentences:
        p.lines += ["## Verdict", "", *[f"- {s}" for s in p.sentences], "", verdict_note(d.baseline), ""]


def signal(d: ReportData, p: ReportParts) -> None:
    if p.check.empty:
        return
    apart = (f"(`{d.baseline}` left out: against it, see best − {d.baseline})" if d.baseline
             else "(the run has no generator that makes no pair)")
    p.lines += ["## Signal check", "",
                f"Spread = max − min of the means of the generators that augment {apart}; seed std = pooled over "
                f"those generators. ≥ {SIGNAL_RATIO:g}× is a signal, {WEAK_RATIO:g}–{SIGNAL_RATIO:g}× weak, below "
                f"noise: a screening rule, not a test (the verdict and the paired statistics say more).",
                "", *p.signal_lines, ""]


def main_table(d: ReportData, p: ReportParts) -> None:
    main_md = wide_table(d.aug, d.gens, d.dets, d.metrics)
    p.main_tex = wide_table(d.aug, d.gens, d.dets, d.metrics, latex=True)
    p.lines += ["## Detectors trained with each generator's anomalies", "", *p.signal_warnings, markdown(main_md), ""]
    p.tables.append(("main", "Detectors trained with each generator's anomalies",
                     f"Mean ± std over seeds; best per column in bold; {OURS}.", main_md))


def validation(d: ReportData, p: ReportParts) -> None:
    cells = d.aug_cells
    if VALIDATION_METRIC not in cells.columns or not cells[VALIDATION_METRIC].notna().any():
        return
    val_md = wide_table(d.aug, d.gens, d.dets, [VALIDATION_METRIC])  # `aug` summarised every metric already
    val_check = signal_check(cells, d.gens, d.dets, [VALIDATION_METRIC], baseline=d.baseline)
    p.lines += ["## Model selection: the validation fold", "",
                "Pixel AP on the validation fold (real anomalies carved from generator-train: never test, never "
                "seen by a generator) at the step each detector kept. Choose generator variants and params on "
                "this table, then read the test tables above; choosing on test makes them optimistic.", "",
                markdown(val_md), "", *signal_lines(val_check, d.baseline), ""]
    p.tables.append(("validation", "Model selection: pixel AP on the validation fold",
                     "Validation fold: real anomalies carved from generator-train, never test.", val_md))


def references(d: ReportData, p: ReportParts) -> None:
    if d.references is None:
        return
    ref_rows = reference_table(load_references(d.references))
    p.lines += ["## Reported elsewhere (not measured here)", "",
                f"From `{d.references}`. Each row says where it comes from: *paper-reported* (the authors' "
                "own number, often with the best epoch chosen on the test split and another split and "
                f"budget) or *third-party re-run*. Not comparable cell by cell with the tables above, "
                f"which are {OURS} (held-out real anomalies, nothing selected on test).", "",
                markdown(ref_rows.set_index("source")), ""]
    p.tables.append(("references", "Reported elsewhere (not measured here)",
                     "paper-reported or third-party re-run; not measured here.", ref_rows.set_index("source")))


def against_baseline(d: ReportData, p: ReportParts) -> None:
    b = d.baseline
    if b is None or b not in d.gens or len(d.gens) <= 1:
        return
    simple = paired_table(d.aug_cells, d.gens, d.dets, d.metrics, baseline=b)
    p.lines += [f"## Against `{b}`, paired by category and seed", "",
                f"Mean ± std over (category, seed) of generator − `{b}` for the same detector; "
                "(wins/pairs) counts the pairs where the generator is higher.", "", markdown(simple), ""]
    p.tables.append(("paired-none", f"Against {b}, paired by category and seed",
                     f"Mean ± std of generator − {b}; (wins/pairs).", simple))


def against_one_class(d: ReportData, p: ReportParts) -> None:
    gains = gains_over_one_class(d.df, d.gens, d.dets, d.metrics)
    if gains.empty:
        return
    p.extra_csv["gains_one_class.csv"] = gains
    gain_md = gain_table(gains, d.gens, d.dets, METRIC_NAMES)
    helps = "a generator helps beyond the normals only where its row is above zero."
    helps = (f"A positive `{d.baseline}` row means the detector beats the one-class level with no anomaly at all; "
             f"{helps}" if d.baseline else helps.capitalize())
    p.lines += ["## Against the best one-class reference, paired by category and seed", "",
                "Mean ± std over (category, seed) of generator → detector − the one-class reference on the same "
                "split and normals; (wins/pairs) counts the pairs where the augmented detector is higher. The "
                "reference is, per metric, the one-class detector with the best mean over this run (per seed "
                f"averaged over categories, then over seeds): {reference_sentence(gains, METRIC_NAMES)}. "
                + helps, "",
                markdown(gain_md), ""]
    p.tables.append(("gain-one-class", "Against the best one-class reference, paired by category and seed",
                     "Mean ± std of generator → detector − best one-class reference (by run mean); "
                     "(wins/pairs).", gain_md))


def cost(d: ReportData, p: ReportParts) -> None:
    costs = cost_table(d.df, d.gens)
    if costs.empty:
        return
    p.lines += ["## Cost: generator fit and sampling, detector training", "", COST_NOTE, "",
                markdown(costs, as_written=True), ""]
    p.tables.append(("cost", "Cost per generator", "Seconds per augmented set (fit, sampling) and per detector "
                     "cell; n/a: recorded before costs were.", costs))
    for m in d.headline[:1]:
        value = gain_per_cost(d.aug_cells, d.gens, d.dets, m, METRIC_NAMES[m], baseline=d.baseline)
        if not value.empty:
            p.lines += [f"### {METRIC_NAMES[m]} gained over `{d.baseline}` per minute of generator time", "",
                        markdown(value, as_written=True), ""]
            p.tables.append((f"cost-gain-{m}", f"{METRIC_NAMES[m]} gained over {d.baseline} per generator minute",
                             f"Gain = generator mean − {d.baseline} mean (main table); per fit-minute and per "
                             "fit + sampling minute of one set.", value))


def paired_statistics(d: ReportData, p: ReportParts) -> None:
    from harness import stats
    from harness.stats import MIN_CI_PAIRS

    if len(d.gens) <= 1:
        return
    stat_metrics = d.headline or d.metrics
    p.lines += ["## Paired statistics", "",
                "Generator − reference for the same detector, paired by (dataset, category, seed): mean "
                "difference, 95 % paired bootstrap CI (`scipy.stats.bootstrap`, BCa, 9999 resamples, seed 0), "
                "(wins/pairs), and the two-sided Wilcoxon signed-rank p-value Holm-corrected over each table "
                "(`scipy.stats.wilcoxon`, `statsmodels` Holm). With n pairs the smallest exact Wilcoxon p is "
                "2/2ⁿ (0.5 for 2 pairs, 0.031 for 6): few pairs cannot reach p < 0.05 however large the gap, so "
                f"below {MIN_CI_PAIRS} pairs neither a CI nor a p is shown (a bootstrap of 2 values collapses "
                "to a falsely narrow interval); the verdict's t-test is the answer there.", ""]
    b = d.baseline
    against = [(b, f"vs `{b}`")] if b is not None and b in d.gens else []
    paired_all = []
    for reference, heading in (*against, ("best", "vs the best generator of each column")):
        ps = stats.paired_stats(d.aug_cells, d.gens, d.dets, stat_metrics, reference=reference)
        if ps.empty:
            continue
        paired_all.append(ps)
        t = stats_table(ps, d.gens, d.dets, stat_metrics)
        p.lines += [f"### {heading}", "", markdown(t), ""]
        p.tables.append((f"stats-{reference}", f"Paired statistics {heading.replace('`', '')}",
                         "Mean difference [95% bootstrap CI] (wins/pairs) p = Holm-adjusted Wilcoxon.", t))
    if paired_all:
        p.extra_csv["paired.csv"] = pd.concat(paired_all)


def verdict_comparisons(d: ReportData, p: ReportParts) -> None:
    from harness import verdict

    if not p.verdicts:
        return
    vt = verdict.verdict_table(p.verdicts, METRIC_NAMES)
    p.lines += ["## Verdict: the comparisons behind it", "", verdict_note(d.baseline), "",
                markdown(vt, as_written=True), ""]
    p.tables.append(("verdict", "The comparisons behind the verdict",
                     "Paired t-test on (dataset, category, seed) pairs, two-sided, 5 %.", vt))


def ranks(d: ReportData, p: ReportParts) -> None:
    from harness import report_figures as figs
    from harness import stats

    found = [r for det in d.dets for m in (d.headline or d.metrics)
             if (r := stats.rank_analysis(d.aug_cells, d.gens, det, m)) is not None]
    if found:
        rt = rank_table(found, d.gens)
        p.lines += ["## Average ranks and critical difference", "",
                    "Per detector and metric, each category (seed mean) ranks the generators (1 = best, ties "
                    "averaged); Friedman test (scipy), Nemenyi post-hoc and critical difference (scikit-posthocs, "
                    "Demšar 2006). Generators whose average ranks differ by less than the CD are not "
                    "distinguishable.", "", markdown(rt), ""]
        p.tables.append(("ranks", "Average ranks (1 = best) over categories", "Friedman test; Nemenyi CD.", rt))
        for r in found:
            paths = figs.cd_figure(r, METRIC_NAMES.get(r["metric"], r["metric"]), d.out_dir)
            p.figures.append((f"Critical-difference diagram, {r['detector']} {METRIC_NAMES.get(r['metric'])}", paths))
            p.lines += [f"![CD {r['detector']} {r['metric']}]({paths[0].name})", ""]
    elif len(d.gens) >= stats.MIN_RANK_GENERATORS:
        n = len(d.cats)
        p.lines += ["## Average ranks and critical difference", "",
                    f"Not computed: ranks need ≥ {stats.MIN_RANK_GENERATORS} generators and ≥ "
                    f"{stats.MIN_RANK_BLOCKS} categories; this run has {n} categor{'y' if n == 1 else 'ies'}.", ""]


def one_class(d: ReportData, p: ReportParts) -> None:
    ref = d.ref
    if ref.empty:
        return
    ref_md = wide_table(ref.assign(generator=ref["detector"], detector=""), d.ref_dets, [""], d.metrics)
    ref_md.columns = [c.strip() for c in ref_md.columns]
    ref_md.index.name = "detector"
    p.lines += ["## One-class references (no generated anomalies)", "", markdown(ref_md), ""]
    p.tables.append(("one-class", "One-class references (no generated anomalies)", "", ref_md))


def generation_quality(d: ReportData, p: ReportParts) -> None:
    quality, notes = p.quality, p.quality_notes
    if quality.empty and notes:
        p.lines += ["## Generation quality", "", *[f"- {n}" for n in notes], ""]
    if quality.empty:
        return
    p.lines += ["## Generation quality", "", markdown(quality), ""] + [f"- {n}" for n in notes]
    if any(c.startswith("mask ") for c in quality.columns):
        p.lines.append("- mask … W1: 1-D Wasserstein distance between the generated masks' statistic (area "
                       "fraction, connected parts, centroid) and the real generator-train masks'; lower is closer.")
    if "on-object" in quality.columns:
        p.lines.append("- on-object: share of the generated mask area on the object (foreground estimated per "
                       "image, mask ignored); real on-object: the same for the real generator-train masks.")
    if "KID" in quality.columns:
        p.lines.append("- KID: generated vs real generator-train anomalies, whole images, Inception pool3 "
                       "(network, sizes and subsets in `cells.json`); lower is closer.")
    p.lines.append("")
    p.tables.append(("quality", "Generation quality", "n/a: the weights the metric needs are missing; the reason "
                     "and the fix are in results.md and index.html.", quality))


def quality_vs_detection(d: ReportData, p: ReportParts) -> None:
    from harness import report_figures as figs
    from harness import stats

    cells = d.aug_cells
    qcols = quality_columns(cells)
    corr = stats.quality_correlation(cells, qcols, d.headline, d.dets) if qcols and d.headline else pd.DataFrame()
    if corr.empty:
        return
    p.extra_csv["correlation.csv"] = corr
    ct = correlation_table(corr, d.dets, d.headline, "all")
    p.lines += ["## Quality ↔ detection", "",
                "Spearman ρ (`scipy.stats.spearmanr`) across generators between each quality metric (generator "
                "mean) and the detector's metric (generator mean); n = generators with both. Distances (KID, "
                "mask W1) are lower-is-closer, so a negative ρ means closer-to-real sets detect better; "
                "IC-LPIPS is diversity (higher = more diverse).", "", markdown(ct), ""]
    p.tables.append(("correlation", "Quality vs detection: Spearman rho across generators", "", ct))
    per_cat = correlation_table(corr, d.dets, d.headline, "category")
    if not per_cat.empty:
        p.lines += ["Per category (seed means), where it has ≥ 3 generators with both values:", "",
                    markdown(per_cat), ""]
        p.tables.append(("correlation-category", "Quality vs detection per category", "", per_cat))
    for det in d.dets:
        points = {(q, m): stats.quality_points(cells, q, m, det).reindex(
            [g for g in d.gens if g in set(cells["generator"])]).dropna() for q in qcols for m in d.headline}
        paths = figs.scatter_figure(points, {q: QUALITY_NAMES.get(q[4:], q) for q in qcols},
                                    {m: METRIC_NAMES[m] for m in d.headline}, d.gens, d.out_dir,
                                    f"quality_vs_detection_{det}", f"{det}: generation quality vs detection")
        if paths:
            p.figures.append((f"Quality vs detection, {det}", paths))
            p.lines += [f"![quality vs detection {det}]({paths[0].name})", ""]


def ratio_axis(d: ReportData, p: ReportParts) -> None:
    from harness import report_figures as figs

    axis = d.axis
    if axis.empty:
        return
    n_top = int(axis["n_synthetic"].max())
    flat = f"; `{d.baseline}` makes no pair (flat)." if d.baseline else "."
    p.lines += ["## Synthetic:normal ratio", "",
                f"Each detector trained on the first n generated pairs (taken in turn from each defect type, so "
                f"smaller sets are subsets of larger ones, all from one generator fit); ratio = n : normal "
                f"training images. Mean ± std over seeds. The tables above use n = {n_top}{flat}", ""]
    for m in d.headline or d.metrics:
        rt = ratio_table(axis, d.gens, d.dets, m)
        p.lines += [f"### {METRIC_NAMES.get(m, m)}", "", markdown(rt), ""]
        p.tables.append((f"ratio-{m}", f"{METRIC_NAMES.get(m, m)} against the number of generated pairs", "", rt))
        paths = figs.ratio_figure(axis, d.ref, d.gens, d.dets, m, METRIC_NAMES.get(m, m), d.out_dir)
        p.figures.append((f"{METRIC_NAMES.get(m, m)} against the synthetic:normal ratio", paths))
        p.lines += [f"![{m} vs ratio]({paths[0].name})", ""]


def per_category(d: ReportData, p: ReportParts) -> None:
    if len(d.cats) <= 1:
        return
    p.lines += ["## Per category", ""]
    for cat in d.cats:
        part = summarise(d.df[d.df["category"] == cat], d.metrics)
        part = part[part["generator"] != ONE_CLASS]
        t = wide_table(part, d.gens, d.dets, d.metrics)
        p.lines += [f"### {cat}", "", markdown(t), ""]
        p.tables.append((f"category-{cat}", f"Per category: {cat}", "", t))


def timing(d: ReportData, p: ReportParts) -> None:
    t = timing_table(d.df, d.gens)
    note = ("A cell's own seconds: the detector's training and scoring (as MLflow's durations). The "
            "generator's fit and sampling come before, once per set: see the cost table.")
    p.lines += ["## Time per job", "", note, "", markdown(t), ""]
    p.tables.append(("timing", "Wall time per cell", note, t))


def headline_bars(d: ReportData, p: ReportParts) -> None:
    """The headline figures: last in the Markdown, first among the figures of the LaTeX and HTML files."""
    from harness import report_figures as figs

    for m in d.headline:
        bar = figs.bar_figure(d.aug, d.ref, d.gens, d.dets, m, METRIC_NAMES[m], d.out_dir)
        p.figures.insert(0, (f"{METRIC_NAMES[m]} per generator and detector", bar))
        p.lines += [f"![{METRIC_NAMES[m]}]({bar[0].name})", ""]


Section = Callable[[ReportData, ReportParts], None]

#: results.md from top to bottom
SECTIONS: Sequence[Section] = (
    header, verdict_sentences, signal, main_table, validation, references, against_baseline, against_one_class,
    cost, paired_statistics, verdict_comparisons, ranks, one_class, generation_quality, quality_vs_detection,
    ratio_axis, per_category, timing, headline_bars,
)

__all__ = ["COST_NOTE", "HEADLINE_METRICS", "SECTIONS", "ReportData", "ReportParts", "analyse", "verdict_note"]
