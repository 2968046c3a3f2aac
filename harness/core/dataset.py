"""The dataset-adapter contract: a dataset root → one sample table per category."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from harness.core.plugin import Plugin


class DatasetAdapter(Plugin, ABC):
    """Base class of dataset adapters (register subclasses in `DATASETS`)."""

    #: where the adapter draws its own data when a spec gives it no root (`bench doctor` lists it as
    #: generated there); "" for adapters that read a dataset from their root and need one
    generated_without_root: ClassVar[str] = ""

    def __init__(self, root: Path | None, params: dict[str, Any] | None = None, *, image_size: int = 128):
        self.root = Path(root) if root is not None else None
        self.params = self.resolve_params(params, "cpu-quick")
        self.image_size = image_size

    @abstractmethod
    def categories(self) -> list[str]:
        """Categories available under the root."""

    @abstractmethod
    def load(self, category: str) -> pd.DataFrame:
        """The category's sample table (see `harness.data.table`), validated."""
