"""What every generation-quality metric returns: a value, or why there is none, with its params."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.core.generator import AnomalyPair


@dataclass
class MetricResult:
    value: float | None  # None when unavailable
    unavailable: str | None  # why, and how to provide the weights (one line), when value is None
    params: dict[str, Any] = field(default_factory=dict)  # net, image size, caps, n images... recorded with the value


def group_by_type(pairs: Sequence[AnomalyPair]) -> dict[str, list[AnomalyPair]]:
    """Pairs by defect type, types sorted (per-type values are averaged in this order)."""
    groups: dict[str, list[AnomalyPair]] = defaultdict(list)
    for p in pairs:
        groups[p.defect_type].append(p)
    return dict(sorted(groups.items()))


def unavailable(metric: str, reason: str, params: dict[str, Any]) -> MetricResult:
    """The metric as reported when its weights are missing: the first line of why, and how to fix it."""
    return MetricResult(None, reason.splitlines()[0] if reason else f"{metric} unavailable", params)
