"""Mask statistics of a generated set against the real generator-train masks: 1-D Wasserstein
distances of area fraction, connected parts and centroid (`harness.metrics.mask_stats`); no weights."""

from __future__ import annotations

from typing import Sequence


from harness.core.generator import AnomalyPair
from harness.metrics import mask_stats
from harness.metrics.result import MetricResult


MASK_KEYS = ("mask_area_wd", "mask_count_wd", "mask_pos_wd")


def mask_distribution_metrics(generated: Sequence[AnomalyPair], real_train: Sequence[AnomalyPair]
                              ) -> dict[str, MetricResult]:
    """1-D Wasserstein distances between generated and real mask statistics (no weights needed)."""
    gen = mask_stats.mask_statistics([p.mask for p in generated])
    real = mask_stats.mask_statistics([p.mask for p in real_train])
    base = {"n_generated": len(generated), "n_real": len(real_train), "distance": "scipy.stats.wasserstein_distance",
            "generated": mask_stats.summarise(gen), "real": mask_stats.summarise(real)}
    out: dict[str, MetricResult] = {}
    dists = mask_stats.statistic_distances(gen, real)
    for key, stat in (("mask_area_wd", "area_fraction"), ("mask_count_wd", "component_count"),
                      ("mask_pos_wd", "centroid")):
        value, reason = dists[stat]
        params = dict(base, statistic=mask_stats.STATISTIC_DOC[stat])
        out[key] = MetricResult(value, reason, params)
    return out
