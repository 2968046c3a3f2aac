"""How `bench run` ends: a few lines a user acts on (what ran, where the report and the MLflow
store are), not every written path on one line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from harness.config import ExperimentSpec
    from harness.pipeline import GridSummary

#: the report files a user opens first, in that order; the rest are counted
HEADLINE = ("index.html", "results.md", "results.csv")


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def report_line(paths: Sequence[Path]) -> str:
    """``report: reports/quick/index.html (also results.md, results.csv, 11 more files in reports/quick)``."""
    if not paths:
        return "report: nothing written"
    by_name = {p.name: p for p in paths}
    shown = [n for n in HEADLINE if n in by_name]
    first = by_name[shown[0]] if shown else paths[0]
    rest = len(paths) - max(1, len(shown))
    also = [*shown[1:], *([f"{rest} more files"] if rest else [])]
    return f"report: {first}" + (f" (also {', '.join(also)} in {first.parent})" if also else "")


def run_summary(summary: "GridSummary", exp: "ExperimentSpec", report: Sequence[Path] | None) -> list[str]:
    """The closing lines of `bench run`."""
    lines = [f"done in {_clock(summary.seconds)}: {summary.finished} cells run, {summary.resumed} resumed, "
             f"{len(summary.failed)} failed (of {summary.total})"]
    if report is not None:
        lines.append(report_line(report))
    lines.append(f"MLflow: {exp.mlflow_uri} (one parent run '{exp.name} (grid)'; "
                 f"browse: mlflow ui --backend-store-uri {exp.mlflow_uri})")
    return lines
