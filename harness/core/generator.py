"""The generator contract: fit on normals + few-shot real pairs, sample image + exact mask pairs.

Images are ``HxWx3 uint8`` RGB arrays, masks ``HxW bool`` arrays of the same size: the
mask marks exactly the pixels the generator changed (for pasting methods) or the
anomaly it drew (for generative ones). Every generator is deterministic for a seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from harness.core.plugin import Plugin, RunContext


@dataclass
class AnomalyPair:
    image: np.ndarray  # HxWx3 uint8
    mask: np.ndarray  # HxW bool
    defect_type: str

    def __post_init__(self) -> None:
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"image must be HxWx3 uint8, got {self.image.shape} {self.image.dtype}")
        if self.mask.dtype != np.bool_ or self.mask.shape != self.image.shape[:2]:
            raise ValueError(f"mask must be HxW bool matching the image, got {self.mask.shape} {self.mask.dtype}")


class Generator(Plugin, ABC):
    """Base class of every anomaly generator (register subclasses in `GENERATORS`)."""

    needs_real_anomalies: ClassVar[bool] = False
    #: True when `sample` honours `defect_type` (samples per real defect type).
    conditions_on_defect_type: ClassVar[bool] = False
    #: True when every pixel outside a pair's mask is the canvas pixel unchanged (pasting
    #: methods); generative ones that redraw the whole image leave it False. The contract
    #: checks (`harness.core.checks`) hold every generator that claims it to it.
    keeps_canvas_outside_mask: ClassVar[bool] = False
    #: False for generators whose `fit` learns no weights (pasting, procedural noise): the
    #: executors schedule the ones that train (minutes, a GPU's memory) first and size them apart
    needs_training: ClassVar[bool] = True
    #: False for the no-augmentation baseline (`none`): it makes no pairs, so the harness gives it
    #: one cell per detector (no synthetic:normal ratio axis) and reports compare every other
    #: generator against it. The harness reads this flag and never a plug-in's name.
    makes_pairs: ClassVar[bool] = True
    #: param overrides for a shorter fit and a longer one that resumes it from the checkpoint the
    #: shorter left in `RunContext.cache_dir`; empty for generators that keep none. The contract
    #: checks (`harness.core.checks`) resume with them on every accelerator.
    resume_params: ClassVar[tuple[dict[str, Any], ...]] = ()

    def __init__(self, params: dict[str, Any] | None, context: RunContext):
        self.params = self.resolve_params(params, context.profile)
        self.context = context

    @abstractmethod
    def fit(self, normal_images: Sequence[np.ndarray], anomaly_pairs: Sequence[AnomalyPair], *, seed: int) -> None:
        """Learn from normal images and the generator-train split's real pairs (possibly empty)."""

    @abstractmethod
    def sample(
        self,
        n: int,
        *,
        normal_images: Sequence[np.ndarray],
        defect_type: str | None = None,
        seed: int,
    ) -> list[AnomalyPair]:
        """Make `n` pairs (fewer only for `none`); `normal_images` are the canvases to use."""

    def save(self, path: Path) -> None:  # noqa: B027 - optional for stateless generators
        """Persist fitted state (generators without state need not override)."""

    def load(self, path: Path) -> None:  # noqa: B027
        """Restore what `save` wrote."""
