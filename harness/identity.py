"""Which cells a spec means: the identity of a plug-in, and the grid file that makes a report a function of its spec.

A cell's key already hashes the spec's settings and the data. Two things were missing and let
an old cell pass for a current one: the params a plug-in actually runs with (its profile
defaults filled in) and the plug-in's code (its file and the files of its package it uses:
`code_files`). `plugin_identity` adds both. The driver writes the
spec's resolved grid (`grid.json`: every cell slug with the parts of its identity) before a run;
a report selects exactly those cells, so cells of an older configuration left in the folder are
*superseded*: kept on disk, never averaged with the current ones, shown only by ``--all``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from harness.fsio import write_json_atomic

if TYPE_CHECKING:
    from harness.cells import CellKey, CellRecord
    from harness.config import PluginSpec

GRID_FILE = "grid.json"


def code_files(cls: type) -> list[Path]:
    """The source files whose code decides `cls`'s numbers: the file that defines it, its base
    classes' files, and every module of the same top-level package whose names those import at
    module level, transitively (an import inside a function is not seen).

    Why more than the one file: residual-seg's statistics live in `detectors/one_class_maps.py`
    and its training in its base class's file, DH-Diff's loop in `generators/diffusion/`; a
    change there changes the numbers as much as one in the plug-in's own file, and must
    supersede its cells too. Other packages (the harness core, third-party libraries) are not
    followed: they are the environment a run records, not the plug-in.
    """
    top = cls.__module__.split(".")[0]
    queue = [k.__module__ for k in cls.__mro__ if k.__module__.split(".")[0] == top]
    seen: set[str] = set()
    files: set[Path] = set()
    while queue:
        name = queue.pop()
        module = sys.modules.get(name)
        if name in seen or module is None:
            continue
        seen.add(name)
        source = getattr(module, "__file__", None)
        if source and Path(source).is_file():
            files.add(Path(source))
        for value in vars(module).values():
            used = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
            if isinstance(used, str) and used.split(".")[0] == top and used not in seen:
                queue.append(used)
    return sorted(files)


@lru_cache(maxsize=None)
def code_hash(cls: type) -> str:
    """sha256 (12 hex) of the source files that decide `cls`'s numbers (`code_files`; "" where
    there are none, e.g. a REPL class)."""
    files = code_files(cls)
    if not files:
        return ""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def plugin_identity(registry: Any, spec: "PluginSpec", profile: str) -> dict[str, Any]:
    """What decides a plug-in's numbers: its name, the params it resolves to, the hash of its code."""
    cls = registry.get(spec.name)
    resolve = getattr(cls, "resolve_params", None)
    params = resolve(spec.params, profile).model_dump(mode="json") if resolve else dict(spec.params)
    return {"name": spec.name, "params": params, "code": code_hash(cls)}


def grid_entries(spec: Any, jobs: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """The grid file's content for `jobs` (`harness.jobs.DetectJob`s of `spec`)."""
    from harness.config import fingerprint
    from harness.core.registry import DETECTORS, GENERATORS

    run = fingerprint(spec.profile, spec.image_size, spec.split.model_dump(), spec.generation.model_dump())
    out = {}
    for job in jobs:
        gen = fingerprint(plugin_identity(GENERATORS, job.generator, spec.profile)) if job.generator else ""
        det = fingerprint(plugin_identity(DETECTORS, job.detector, spec.profile))
        out[job.key.slug] = cell_parts(job.key, job.data.fp, gen, det, run)
    return out


def spec_grid(spec: Any) -> dict[str, dict[str, Any]]:
    """The resolved grid of `spec` as it stands now (its data read and checked, like `bench run` does)."""
    from harness.pipeline import load_tables, plan

    return grid_entries(spec, plan(spec, load_tables(spec)))


# --- the grid file ------------------------------------------------------------------------------

def write_grid(run_dir: Path, cells: dict[str, dict[str, str]]) -> None:
    """Record the spec's resolved grid: slug → the parts of its identity (data, generator, detector)."""
    write_json_atomic(run_dir / GRID_FILE, {"cells": cells})


def read_grid(run_dir: Path) -> dict[str, dict[str, str]] | None:
    """The grid of the last run (None: no grid file, a folder made before grid files existed)."""
    try:
        data = json.loads((run_dir / GRID_FILE).read_text())
        cells = data["cells"]
        return cells if isinstance(cells, dict) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _short(key: "CellKey") -> tuple:
    return (key.dataset, key.category, key.generator, key.detector, key.seed, key.n_synthetic)


_PARTS = {"data": "the data", "generator": "the generator's params or code",
          "detector": "the detector's params or code", "run": "the run settings (profile, image size, split, generation)"}


def why_superseded(old: dict[str, str] | None, new: dict[str, str] | None) -> str:
    """Which part of a cell's identity changed between two grids."""
    if not old or not new:
        return "superseded: made with an earlier configuration"
    changed = [what for part, what in _PARTS.items() if old.get(part) != new.get(part)]
    return "superseded: changed " + ", ".join(changed) if changed else "superseded: made with an earlier configuration"


def superseded_summary(records: Iterable["CellRecord"], grid: dict[str, dict[str, Any]],
                       previous: dict[str, dict[str, Any]] | None) -> list[str]:
    """One line per reason: how many finished cells the current grid supersedes, and why."""
    now_at = {tuple(parts.get("cell", ())): slug for slug, parts in grid.items()}
    reasons: dict[str, int] = {}
    for rec in records:
        if rec.key.slug in grid:
            continue
        now = now_at.get(_short(rec.key))
        if now is None:
            why = "not in this spec's grid (a generator, detector, category or seed it does not list)"
        else:
            why = why_superseded((previous or {}).get(rec.key.slug), grid[now])
        reasons[why] = reasons.get(why, 0) + 1
    return [f"{n} cell(s) {why}" for why, n in sorted(reasons.items())]


def cell_parts(key: "CellKey", data: str, generator: str, detector: str, run: str) -> dict[str, Any]:
    """A grid entry: the cell's coordinates and the fingerprints of its parts."""
    return {"cell": list(_short(key)), "data": data, "generator": generator, "detector": detector, "run": run}


def select(records: list["CellRecord"], grid: dict[str, Any] | None, *, include_superseded: bool = False
           ) -> tuple[list["CellRecord"], int]:
    """(the records to report, how many superseded ones were left out or labelled).

    With a grid: exactly its cells. Without one (an old folder; `records` oldest first): every
    record, the newest of duplicates of one (dataset, category, generator, detector, seed) kept. `include_superseded`
    keeps the others too, their generator (one-class: detector) labelled ``[superseded <fp>]``.
    """
    if grid is not None:
        current = [r for r in records if r.key.slug in grid]
        old = [r for r in records if r.key.slug not in grid]
    else:
        newest: dict[tuple, "CellRecord"] = {}
        for r in records:  # in the order they were written: the last one of a cell wins
            newest[_short(r.key)] = r
        keep = {id(r) for r in newest.values()}
        current = [r for r in records if id(r) in keep]
        old = [r for r in records if id(r) not in keep]
    if not include_superseded:
        return current, len(old)
    from dataclasses import replace

    from harness.cells import ONE_CLASS

    labelled = []
    for r in old:
        tag = f" [superseded {r.key.fingerprint[:6]}]"
        k = r.key
        key = replace(k, detector=k.detector + tag) if k.generator == ONE_CLASS else replace(k, generator=k.generator + tag)
        labelled.append(replace(r, key=key))
    return current + labelled, len(old)
