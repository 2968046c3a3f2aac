"""Numbers reported elsewhere, kept apart from ours.

A reader comparing our table with a paper's must never mistake one for the other: papers
pick epochs on test, use other splits and budgets. `report.references: FILE.csv` lists such
numbers; the report shows them in their own table, each row labelled by where it comes from
(*paper-reported* or *third-party re-run*), next to a note that ours are *measured here,
leak-free* (held-out real anomalies, no model selection on test).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: What each reference row must say.
COLUMNS = ("source", "provenance", "dataset", "category", "generator", "detector", "metric", "value")
PROVENANCE = ("paper-reported", "third-party re-run")
OURS = "measured here, leak-free"


class ReferenceError(ValueError):
    """A references file that cannot be used: one line naming the file and the fix."""


def load_references(path: Path | str) -> pd.DataFrame:
    """The rows of a references CSV, checked; values as given (percent or fraction, as the source)."""
    path = Path(path)
    if not path.is_file():
        raise ReferenceError(f"{path}: report.references file not found; give a CSV with columns {', '.join(COLUMNS)}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ReferenceError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ReferenceError(f"{path}: missing column(s) {', '.join(missing)}; the header must name {', '.join(COLUMNS)}")
    if df.empty:
        raise ReferenceError(f"{path}: no reference rows; remove report.references or add rows")
    for i, row in df.iterrows():
        line = int(i) + 2  # 1-based, after the header
        if row["provenance"] not in PROVENANCE:
            raise ReferenceError(f"{path}: line {line}: provenance '{row['provenance']}' must be one of "
                                 f"{', '.join(PROVENANCE)}")
        if not row["source"].strip():
            raise ReferenceError(f"{path}: line {line}: empty source; cite where the number was reported")
        try:
            float(row["value"])
        except ValueError:
            raise ReferenceError(f"{path}: line {line}: value '{row['value']}' is not a number") from None
    return df[list(COLUMNS) + [c for c in df.columns if c not in COLUMNS]]


def reference_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, provenance, dataset, category, generator, detector); metrics as columns."""
    keys = ["source", "provenance", "dataset", "category", "generator", "detector"]
    wide = df.pivot_table(index=keys, columns="metric", values="value", aggfunc="first", sort=False)
    wide.columns.name = None
    return wide.reset_index().fillna("–")
