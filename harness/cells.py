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

    @classmethod
    def parse(cls, text: str) -> "CellRecord":
        """A record from its file's text, checked against the record's schema; ValueError says what is wrong."""
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        if not isinstance(d, dict) or not isinstance(d.get("key"), dict):
            raise ValueError("not a cell record (no 'key' mapping)")
        try:
            rec = cls.from_json(d)
        except TypeError as exc:
            raise ValueError(f"not a cell record ({exc})") from None
        k = rec.key
        if not all(isinstance(v, str) and v for v in (k.dataset, k.category, k.generator, k.detector, k.fingerprint)):
            raise ValueError("key: dataset, category, generator, detector and fingerprint must be non-empty text")
        if not isinstance(k.seed, int) or isinstance(k.seed, bool) or (k.n_synthetic is not None and not isinstance(k.n_synthetic, int)):
            raise ValueError("key: seed and n_synthetic must be whole numbers")
        if not isinstance(rec.metrics, dict) or not all(
                isinstance(n, str) and (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)))
                for n, v in rec.metrics.items()):
            raise ValueError("metrics: must map names to numbers")
        if not isinstance(rec.generation, dict) or not isinstance(rec.curve, list):
            raise ValueError("generation must be a mapping and curve a list")
        return rec


class CellStore:
    """Finished cells under ``<run_dir>/cells/``; failures under ``cells/failed/``.

    A record that does not parse or fails the schema (a truncated write by another tool, a
    hand edit) counts as not finished: `corrupt` names it, a run recomputes the cell, a
    report leaves it out; neither stops with a traceback.
    """

    def __init__(self, run_dir: Path):
        self.dir = run_dir / "cells"
        self.corrupt: dict[Path, str] = {}  # file → what is wrong with it, as met so far

    def path(self, key: CellKey) -> Path:
        return self.dir / f"{key.slug}.json"

    def _read(self, path: Path) -> CellRecord | None:
        try:
            return CellRecord.parse(path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            self.corrupt[path] = str(exc).splitlines()[0]
            return None

    def done(self, key: CellKey) -> bool:
        path = self.path(key)
        return path.is_file() and self._read(path) is not None

    def load(self, key: CellKey) -> CellRecord:
        rec = self._read(self.path(key))
        if rec is None:
            raise ValueError(f"{self.path(key)}: corrupt cell record ({self.corrupt[self.path(key)]})")
        return rec

    def save(self, record: CellRecord) -> None:
        write_json_atomic(self.path(record.key), record.to_json())
        (self.dir / "failed" / f"{record.key.slug}.json").unlink(missing_ok=True)

    def save_failure(self, key: CellKey, error: str) -> None:
        write_json_atomic(self.dir / "failed" / f"{key.slug}.json", {"key": asdict(key), "error": error})

    def records(self, *, oldest_first: bool = False) -> list[CellRecord]:
        """Every readable record (by slug, or in the order they were written); corrupt ones go to `corrupt`."""
        if not self.dir.is_dir():
            return []
        paths = sorted(self.dir.glob("*.json"))
        if oldest_first:
            paths.sort(key=lambda p: p.stat().st_mtime_ns)
        return [r for p in paths if (r := self._read(p)) is not None]

    def corrupt_lines(self) -> list[str]:
        """One line per corrupt record met, naming the file."""
        return [f"{p}: corrupt cell record ({why}); left out, bench run recomputes the cell"
                for p, why in sorted(self.corrupt.items())]

    def failures(self) -> list[dict[str, Any]]:
        fdir = self.dir / "failed"
        out = []
        for p in sorted(fdir.glob("*.json")) if fdir.is_dir() else []:
            try:
                out.append(json.loads(p.read_text()))
            except (ValueError, UnicodeDecodeError) as exc:  # a note of a failure: never worth a traceback
                self.corrupt[p] = str(exc).splitlines()[0]
        return out
