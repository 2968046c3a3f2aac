"""What a generator costs: fit and sampling wall time, images per second, GPU-seconds on CUDA.

A cell's own ``seconds`` cover the detector only; a generator is fitted and sampled once per
(category, seed) before any detector runs, so its time was invisible (DH-Diff's fits were most
of a run). `run_generate` times both steps with `timed` and stores `generator_cost` in the
augmented set's manifest; every cell trained on that set copies it into its record.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def _synchronize(device: str) -> None:
    """Wait for the device's queued work (that device's, `cuda:1` included), so a step's time is its
    own and not the next step's."""
    if str(device).startswith("cuda"):
        from harness.core.device import synchronize

        synchronize(device)


def timed(fn: Callable[[], T], device: str) -> tuple[T, float]:
    """(fn(), wall seconds), CUDA synchronised before and after."""
    _synchronize(device)
    start = time.perf_counter()
    out = fn()
    _synchronize(device)
    return out, time.perf_counter() - start


def generator_cost(fit_seconds: float, sample_seconds: float, n_sampled: int, device: str) -> dict[str, Any]:
    """The record's ``generator_cost``. GPU-seconds: the one GPU the job held for fit + sampling
    (None off CUDA); images/s: sampled pairs per sampling second (None without a sample)."""
    on_gpu = str(device).startswith("cuda")
    return {"fit_seconds": round(fit_seconds, 3), "sample_seconds": round(sample_seconds, 3),
            "n_sampled": int(n_sampled),
            "images_per_second": round(n_sampled / sample_seconds, 3) if n_sampled and sample_seconds > 0 else None,
            "gpu_seconds": round(fit_seconds + sample_seconds, 3) if on_gpu else None, "device": str(device)}
