"""The contracts every part of the bench agrees on, and nothing else.

`harness.core` imports no plug-in package: generators (`generators/`), detectors
(`detectors/`) and dataset adapters depend on it, never the reverse
(`tests/harness/core/test_import_direction.py` keeps it so).

- `plugin`    — `Plugin` (declared pydantic params, profile defaults), `RunContext`
- `registry`  — `GENERATORS`, `DETECTORS`, `DATASETS`, filled from entry points
- `generator` — `AnomalyPair`, `Generator`
- `detector`  — `TrainSet`, `Predictions`, `Detector`
- `dataset`   — `DatasetAdapter`
"""

from harness.core.dataset import DatasetAdapter
from harness.core.detector import Detector, Predictions, TrainSet
from harness.core.generator import AnomalyPair, Generator
from harness.core.plugin import PROFILES, ParamError, Plugin, PluginParams, Profile, RunContext
from harness.core.registry import DATASETS, DETECTORS, GENERATORS, Registry, UnknownNameError

__all__ = [
    "AnomalyPair", "DATASETS", "DETECTORS", "DatasetAdapter", "Detector", "GENERATORS", "Generator", "PROFILES",
    "ParamError", "Plugin", "PluginParams", "Predictions", "Profile", "Registry", "RunContext", "TrainSet",
    "UnknownNameError",
]
