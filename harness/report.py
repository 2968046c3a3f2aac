"""Paper-ready tables from finished cells: Markdown, LaTeX, CSV, HTML, and figures.

`collect_results` reads the run's cell records into one frame; `write_report` summarises it once
(`harness.report_sections.ReportData`), runs the section builders (`SECTIONS`, one per heading
of ``results.md``; the tables themselves are `harness.report_tables`) and writes the files.

The report opens with the verdict (`harness.verdict`, also ``verdict.csv``): one sentence per
detector × headline metric saying which generators that augment are separable, which tie, and
how each fares against the baseline (the generator that makes no pair, `none`:
`harness.baseline`). Main table: rows = generators, columns = detector × metric,
mean ± std over seeds (each seed's value is first averaged over the categories), best mean per
column in bold. Above it a signal check (also ``signal.csv``): per detector × metric, the spread
of the means of the generators that augment (the baseline apart) against the pooled seed std, with a
bold "do not rank these" warning where the pixel-AP or image-AUROC differences are within seed
noise or rest on one seed. Generator cost (`harness.report_cost`) sits next to it. Then each
generator against no augmentation (the baseline), paired by category and seed: the seed-to-seed
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

from harness.baseline import run_baseline
from harness.cells import ONE_CLASS, CellStore
from harness.fsio import write_text_atomic
from harness.report_cost import cost_columns
from harness.report_sections import COST_NOTE, SECTIONS, ReportData, ReportParts, analyse, verdict_note
# the table builders, importable from here as before the split
from harness.report_tables import (HEADLINE_METRICS, METRIC_NAMES, QUALITY_NAMES, SIGNAL_COLUMNS, SIGNAL_RATIO,
                                   UNKNOWN, VALIDATION_METRIC, WEAK_RATIO, in_preferred_order, correlation_table,
                                   paired_table, quality_table, rank_table, ratio_table, signal_check, stats_table,
                                   summarise, timing_table, wide_table)

__all__ = ["COST_NOTE", "HEADLINE_METRICS", "METRIC_NAMES", "QUALITY_NAMES", "SIGNAL_COLUMNS", "SIGNAL_RATIO",
           "UNKNOWN", "VALIDATION_METRIC", "WEAK_RATIO", "collect_results", "correlation_table", "paired_table",
           "quality_table", "rank_table", "ratio_table", "signal_check", "split_ratio_axis", "stats_table",
           "summarise", "timing_table", "verdict_note", "wide_table", "write_report"]


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
    summary = summarise(df, [m for m in METRIC_NAMES if m in df.columns])
    gens = in_preferred_order([g for g in df["generator"].unique() if g != ONE_CLASS], generator_order)
    data = ReportData(
        title=title, out_dir=out_dir, df=df, axis=axis, folder_notes=folder_notes,
        metrics=[m for m in metrics if m in df.columns], headline=[m for m in HEADLINE_METRICS if m in df.columns],
        summary=summary, gens=gens,
        dets=in_preferred_order(summary.loc[summary["generator"] != ONE_CLASS, "detector"].unique(), detector_order),
        ref_dets=in_preferred_order(summary.loc[summary["generator"] == ONE_CLASS, "detector"].unique(), detector_order),
        baseline=run_baseline(run_dir, gens), references=references)
    parts = analyse(data)
    for section in SECTIONS:
        section(data, parts)
    return _write_files(run_dir, data, parts)


def _write_files(run_dir: Path, data: ReportData, parts: ReportParts) -> list[Path]:
    """results.md, the CSV files, the LaTeX table file and document, cells.json and index.html."""
    from harness import report_latex as tex
    from harness import verdict
    from harness.report_html import write_html

    out_dir, title, df = data.out_dir, data.title, data.df
    md = out_dir / "results.md"
    write_text_atomic(md, "\n".join(parts.lines))
    csv = out_dir / "results.csv"
    summary = data.summary
    write_text_atomic(csv, summary.assign(generator=summary["generator"].replace(ONE_CLASS, "one-class"))
                      .to_csv(index=False, float_format="%.6f"))
    signal = out_dir / "signal.csv"
    write_text_atomic(signal, parts.check.to_csv(index=False, float_format="%.6f"))
    verdict_csv = out_dir / "verdict.csv"
    write_text_atomic(verdict_csv, verdict.verdict_frame(parts.verdicts).to_csv(index=False, float_format="%.6g"))
    paths = [md, csv, signal, verdict_csv]
    for name in ("paired.csv", "gains_one_class.csv", "correlation.csv"):
        if name in parts.extra_csv:
            write_text_atomic(out_dir / name, parts.extra_csv[name].to_csv(index=False, float_format="%.6g"))
            paths.append(out_dir / name)

    groups = [*data.dets, *data.ref_dets]
    body = []
    for key, heading, intro, frame in parts.tables:
        frame = parts.main_tex if key == "main" and parts.main_tex is not None else frame
        if frame.empty:
            continue
        body.append(tex.table(frame, caption=heading, label=tex.label_of(key), groups=groups, note=intro))
    tex_path = out_dir / "results.tex"
    write_text_atomic(tex_path, tex.results_file(body))
    note = verdict_note(data.baseline)
    doc_body = []
    if parts.sentences:  # the PDF opens with what the numbers support, as the Markdown and HTML do
        doc_body += [r"\section*{Verdict}", tex.itemize(parts.sentences), tex.escape(re.sub(r"`", "", note))]
    if not parts.check.empty:
        doc_body += [r"\section*{Signal check}", tex.itemize([s_[2:] for s_ in parts.signal_lines]),
                     tex.itemize([w.lstrip("> ") for w in parts.signal_warnings if w.strip()])]
    doc_body += [r"\input{results.tex}", r"\clearpage"]
    doc_body += [tex.figure(p[1].name, caption, tex.label_of("fig-" + p[1].stem)) for caption, p in parts.figures]
    doc = out_dir / "report.tex"
    write_text_atomic(doc, tex.document(title, "\n".join(doc_body)))
    paths += [tex_path, doc]
    for _, p in parts.figures:
        paths += p
    write_text_atomic(out_dir / "cells.json",
                      json.dumps(df.replace({np.nan: None}).to_dict(orient="records"), indent=1, default=str))
    paths.append(out_dir / "cells.json")
    paths.append(write_html(out_dir / "index.html", title=title, run_dir=run_dir, df=df, gens=data.gens,
                            signal_lines=parts.signal_lines, warnings=parts.signal_warnings,
                            tables=parts.tables, figures=parts.figures, notes=parts.quality_notes,
                            verdict=parts.sentences, verdict_note=note, files=paths))
    return paths
