"""Stable import path for plug-ins: the registries (defined in `harness.core.registry`)."""

from harness.core.registry import DATASETS, DETECTORS, GENERATORS, Entry, Registry, UnknownNameError

__all__ = ["DATASETS", "DETECTORS", "Entry", "GENERATORS", "Registry", "UnknownNameError"]
