"""Process-wide settings a long CPU run needs."""

from __future__ import annotations

import os
import sys

#: at most this many torch threads by default: more rarely helps the small CPU models here
MAX_AUTO_THREADS = 8


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc malloc arenas (M_ARENA_MAX): anomalib's PatchCore coreset selection on CPU grew
    to 9–24 GB with the default per-thread arenas, 1.2 GB with 2. Changes memory, not results."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # -8 = M_ARENA_MAX
        # -3 = M_MMAP_THRESHOLD: a fixed 64 KiB threshold (the dynamic one grows and keeps freed
        # coreset buffers on the heap; with arenas capped alone screw_bag's PatchCore still reached
        # 22-24 GB in the builtin calibration, 1.2-1.3 GB with this too, per MALLOC_MMAP_THRESHOLD_)
        libc.mallopt(-3, 65536)
    except (OSError, AttributeError):
        pass


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def choose_threads(requested: int | str | None) -> tuple[int, str]:
    """Torch intra-op threads for a run, and why.

    ``auto``: the cores not already busy (cores − the 1-minute load average, rounded), at least
    1, at most `MAX_AUTO_THREADS`. On a 2-core box that other work loads, 2 threads ran 5–10×
    slower than 1 (oversubscribed threads wait for each other at every parallel op), so a loaded
    machine gets 1. The count changes float summation order, hence the last digits: pass a number
    to pin it, and every cell records the count it ran with (MLflow tag ``torch_threads``).
    """
    if requested not in (None, "auto"):
        n = int(requested)
        if n < 1:
            raise ValueError(f"threads must be ≥ 1 or 'auto', got {requested}")
        return n, "as requested"
    cores = available_cores()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    free = max(1, min(cores - int(round(load)), MAX_AUTO_THREADS))
    return free, f"auto: {cores} cores, load {load:.1f}"


def apply_threads(n: int) -> None:
    """Set torch's intra-op thread count (and OpenMP's, for libraries that read it later)."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)
