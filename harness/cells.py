"""The record of finished grid cells: what makes a re-run resume instead of recompute.

A cell is one (dataset, category, generator, detector, seed). Its identity includes a
fingerprint of every setting that changes its numbers, so editing a param re-runs the
affected cells and only those. Records are written atomically (temp file + rename): a
crash or Ctrl-C leaves either a whole record or none.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.fsio import write_json_atomic  # noqa: F401 - the one atomic writer, re-exported

#: generator key of one-class detectors, which use no generated anomalies
ONE_CLASS = "-"


@dataclass(frozen=True)
class CellKey:
    dataset: str
    category: str
    generator: str
    detector: str
    seed: int
    fingerprint: str
    #: generated pairs the detector trained with, on a ratio axis (None: all the generator made)
    n_synthetic: int | None = None

    @property
    def slug(self) -> str:
        parts = [self.dataset, self.category, self.generator if self.generator != ONE_CLASS else "one-class",
                 self.detector, f"seed{self.seed}", *([f"n{self.n_synthetic}"] if self.n_synthetic else []),
                 self.fingerprint]
        return "__".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", p) for p in parts)

    def describe(self) -> str:
        gen = "one-class" if self.generator == ONE_CLASS else self.generator
        n = f" · {self.n_synthetic} pairs" if self.n_synthetic else ""
        return f"{self.dataset}/{self.category} · {gen}{n} · {self.detector} · seed {self.seed}"


@dataclass
class CellRecord:
    key: CellKey
    metrics: dict[str, float]
    generation: dict[str, Any] = field(default_factory=dict)  # name → {value, unavailable, params}
    n_generated: int = 0
    n_normal: int = 0  # normal training images (the synthetic:normal ratio is n_generated / n_normal)
    seconds: float = 0.0
    mlflow_run_id: str | None = None
    augmented_manifest: str | None = None
    curve: list[dict[str, float]] = field(default_factory=list)  # the detector's training curve
    #: the generator's fit/sample seconds, images/s, GPU-seconds (`harness.cost`); {} for none,
    #: one-class cells and records written before it existed
    generator_cost: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["key"] = asdict(self.key)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "CellRecord":
        d = dict(d)
        d["key"] = CellKey(**d["key"])
        return cls(**d)


class CellStore:
    """Finished cells under ``<run_dir>/cells/``; failures under ``cells/failed/``."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir / "cells"

    def path(self, key: CellKey) -> Path:
        return self.dir / f"{key.slug}.json"

    def done(self, key: CellKey) -> bool:
        return self.path(key).is_file()

    def load(self, key: CellKey) -> CellRecord:
        return CellRecord.from_json(json.loads(self.path(key).read_text()))

    def save(self, record: CellRecord) -> None:
        write_json_atomic(self.path(record.key), record.to_json())
        (self.dir / "failed" / f"{record.key.slug}.json").unlink(missing_ok=True)

    def save_failure(self, key: CellKey, error: str) -> None:
        write_json_atomic(self.dir / "failed" / f"{key.slug}.json", {"key": asdict(key), "error": error})

    def records(self) -> list[CellRecord]:
        if not self.dir.is_dir():
            return []
        return [CellRecord.from_json(json.loads(p.read_text())) for p in sorted(self.dir.glob("*.json"))]

    def failures(self) -> list[dict[str, Any]]:
        fdir = self.dir / "failed"
        return [json.loads(p.read_text()) for p in sorted(fdir.glob("*.json"))] if fdir.is_dir() else []
