"""The contracts every part of the bench agrees on, and the one surface a plug-in imports.

`harness.core` imports no plug-in package: generators (`generators/`), detectors
(`detectors/`) and dataset adapters depend on it, never the reverse
(`tests/harness/core/test_import_direction.py` keeps it so, and fails when a plug-in imports
any harness module outside `harness.core`). Everything a plug-in may use is here:

- `plugin`    — `Plugin` (declared pydantic params, profile defaults, capabilities:
  `tiny_params`, `expected_failures`, `supported_devices`, `required_files`), `RunContext`,
  `RequiredFile`
- `registry`  — `GENERATORS`, `DETECTORS`, `DATASETS`, filled from entry points
- `generator` — `AnomalyPair`, `Generator` (`needs_training`, `makes_pairs`, …)
- `detector`  — `TrainSet`, `Predictions`, `Detector`
- `dataset`   — `DatasetAdapter`
- `checks`    — the contract suite as a public API: `check_generator`, `check_detector`,
  `parametrize_with_checks`
- `device`    — the run's device, seeded draws, numpy↔tensor conversions, bf16 autocast (its
  `generator` is imported from `harness.core.device`: `harness.core.generator` is the contract module)
- `fakegpu`   — a fake accelerator (``fakegpu:0``) that raises on a device mix, for CPU-only tests
- `io`        — image and mask reading at the run's size, `save_png`, `file_sha256`, `DatasetError`
- `fsio`      — atomic writes (temp file + rename)
- `lock`      — cross-process locks (`exclusive`)
- `foreground` — the object estimate placement uses (`fit_object`, `on_object_fraction`)
- `pixel_metrics` — pixel average precision on tensors, on any device
- `runtime`   — process-wide settings (threads, malloc arenas)
- `toydata`   — tiny procedural data (in memory for generators, on disk for detectors)
- `offline_sources` — where offline weights come from (facts `bench doctor` shares)

The contract classes are imported eagerly; the helpers (torch, PIL, scipy behind them) load on
first use, so ``from harness.core import load_image`` works while `bench list` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.core.dataset import DatasetAdapter
from harness.core.detector import Detector, Predictions, TrainSet
from harness.core.generator import AnomalyPair, Generator
from harness.core.plugin import (PROFILES, DeviceUnavailable, ParamError, Plugin, PluginParams, Profile, RequiredFile,
                                 RunContext)
from harness.core.registry import DATASETS, DETECTORS, GENERATORS, Entry, Registry, UnknownNameError

#: re-exported name → the core module defining it, imported on first access
_LAZY: dict[str, str] = {
    **dict.fromkeys(("CheckFailed", "check_detector", "check_generator", "detector_checks", "generator_checks",
                     "parametrize_with_checks"), "checks"),
    **dict.fromkeys(("Precision", "as_device", "as_tensor", "autocast", "fast_math", "is_cuda",
                     "peak_memory_mib", "rand", "randint", "randn", "reset_peak_memory", "resolve_device",
                     "synchronize", "to_numpy", "use_bf16"), "device"),
    **dict.fromkeys(("fake_gpu",), "fakegpu"),
    **dict.fromkeys(("DatasetError", "file_sha256", "load_image", "load_mask", "save_png"), "io"),
    **dict.fromkeys(("atomic_path", "write_bytes_atomic", "write_json_atomic", "write_text_atomic"), "fsio"),
    **dict.fromkeys(("exclusive",), "lock"),
    **dict.fromkeys(("ObjectEstimate", "estimate_foreground", "fit_object", "on_object_fraction"), "foreground"),
    **dict.fromkeys(("average_precision",), "pixel_metrics"),
    **dict.fromkeys(("apply_threads", "large_buffers_unmapped"), "runtime"),
    **dict.fromkeys(("make_tiny_set", "toy_normals", "toy_pairs"), "toydata"),
}

__all__ = [
    "AnomalyPair", "DATASETS", "DETECTORS", "DatasetAdapter", "Detector", "DeviceUnavailable", "Entry", "GENERATORS",
    "Generator", "PROFILES", "ParamError", "Plugin", "PluginParams", "Predictions", "Profile", "Registry",
    "RequiredFile", "RunContext", "TrainSet", "UnknownNameError", *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    """The helpers of `_LAZY`, imported when first asked for (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.core' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"harness.core.{module}"), name)
    globals()[name] = value
    return value
