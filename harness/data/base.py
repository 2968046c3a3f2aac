"""Stable import path for dataset adapters: the contract is `harness.core.dataset`."""

from harness.core.dataset import DatasetAdapter

__all__ = ["DatasetAdapter"]
