"""Process-wide settings a long CPU run needs."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator, Sequence

#: at most this many torch threads by default: more rarely helps the small CPU models here
MAX_AUTO_THREADS = 8


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """Installed version of each named distribution (absent ones left out): what a report or an
    MLflow experiment records beside the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _mallopt(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").mallopt(option, value)
    except (OSError, AttributeError):
        pass


_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8
#: glibc's ceiling for its dynamic mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc malloc arenas (M_ARENA_MAX): anomalib's PatchCore coreset selection on CPU grew
    to 9–24 GB with the default per-thread arenas, 1.2 GB with 2 (with `large_buffers_unmapped`
    around it). Changes memory, not results; costs no speed with one torch thread."""
    _mallopt(_M_ARENA_MAX, arenas)


@contextmanager
def large_buffers_unmapped(threshold: int = 65536) -> Iterator[None]:
    """Within: every allocation ≥ `threshold` is mmap'ed, so a freed buffer goes back to the OS.

    PatchCore's coreset selection frees and reallocates large buffers; glibc's dynamic mmap
    threshold grows to keep them on the heap, and screw_bag's PatchCore reached 22–24 GB with
    arenas capped alone, 1.2–1.3 GB with this too. Only around the memory-hungry step: process
    wide, the fixed 64 KiB threshold made DH-Diff's training steps 1.7× and its sampling 1.6×
    slower (every tensor a fresh mmap + page faults; `benchmarks/dhdiff_speed.py --threads 1`
    with ``MALLOC_MMAP_THRESHOLD_=65536``: 1358 vs 796 ms/step). Afterwards the threshold is set
    to glibc's own dynamic ceiling (the dynamic mode cannot be switched back on)."""
    _mallopt(_M_MMAP_THRESHOLD, threshold)
    try:
        yield
    finally:
        _mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)


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
