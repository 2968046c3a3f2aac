"""Which generator of a run is the no-augmentation baseline, read from the plug-in, never its name.

A generator whose registered class says `makes_pairs = False` (`harness.core.generator`) makes
no pair: the planner gives it one cell per detector (no ratio axis) and the report compares
every other generator with it. Reports see labels (`PluginSpec.key`), which may differ from the
registered name, so the lookup goes through the run's label → name map where there is one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence


def makes_pairs(name: str) -> bool:
    """The registered generator's capability; a name the registry does not know counts as one that
    makes pairs (an old run's plug-in since uninstalled is reported like any generator)."""
    from harness.core.registry import GENERATORS

    try:
        # `in` first: it loads that one entry point, where `get` of an unknown name imports every plug-in
        return name not in GENERATORS or bool(GENERATORS.get(name).makes_pairs)
    except Exception:  # noqa: BLE001 - a plug-in that fails to import: never the baseline
        return True


def baseline_of(labels: Sequence[str], names: Mapping[str, str] | None = None) -> str | None:
    """The first of `labels` whose generator makes no pair, or None when the run has no baseline.

    `names`: label → registered name (a run's spec); a label missing from it is taken as a name."""
    names = names or {}
    for label in labels:
        if not makes_pairs(names.get(label, label)):
            return label
    return None


#: a `baseline` argument meaning "find it among the generator labels given" (`baseline_of`, labels
#: read as names); callers that know a run's label → name map pass the label `run_baseline` found
FROM_LABELS = "<from labels>"


def resolve(baseline: str | None, labels: Sequence[str]) -> str | None:
    """`baseline` itself, or the one `baseline_of(labels)` finds where it is `FROM_LABELS`."""
    return baseline_of(labels) if baseline == FROM_LABELS else baseline


def spec_names(run_dir: Path) -> dict[str, str]:
    """Generator label → registered name, from the run folder's recorded spec (empty without one)."""
    path = run_dir / "spec.json"
    if not path.is_file():
        return {}
    spec = json.loads(path.read_text())
    return {g.get("label") or g["name"]: g["name"] for g in spec.get("generators") or []}


def run_baseline(run_dir: Path, labels: Sequence[str]) -> str | None:
    """The baseline among a run's generator labels, by the names its recorded spec gives them."""
    return baseline_of(labels, spec_names(run_dir))
