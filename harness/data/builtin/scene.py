"""A scene: a background and a list of components (coverage layers), each with a footprint
(the mask of a logical defect that concerns it) and named regions for structural defects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from harness.data.builtin.draw import over


@dataclass
class Layer:
    alpha: np.ndarray
    colour: np.ndarray  # RGB (3,) or HxWx3 (same shape as alpha)
    box: tuple[slice, slice] | None = None  # where `alpha` sits; None: whole image

    def full(self, size: int) -> np.ndarray:
        if self.box is None:
            return self.alpha
        out = np.zeros((size, size), np.float32)
        out[self.box] = self.alpha
        return out


@dataclass
class Component:
    kind: str
    layers: list[Layer]
    meta: dict = field(default_factory=dict)

    def footprint(self, size: int) -> np.ndarray:
        m = np.zeros((size, size), dtype=bool)
        for layer in self.layers:
            if layer.box is None:
                m |= layer.alpha > 0.02
            else:
                m[layer.box] |= layer.alpha > 0.02
        return m


@dataclass
class Scene:
    background: np.ndarray  # HxWx3 float
    components: list[Component]
    #: Regions where structural defects may be centred, by name.
    regions: dict[str, np.ndarray] = field(default_factory=dict)

    def render(self) -> np.ndarray:
        img = self.background.copy()
        for comp in self.components:
            for layer in comp.layers:
                if layer.box is None:
                    img = over(img, layer.alpha, layer.colour)
                else:
                    img[layer.box] = over(img[layer.box], layer.alpha, layer.colour)
        return img


@dataclass(frozen=True)
class DefectSpec:
    name: str
    kind: str  # "logical" or "structural"
    #: sPRO saturation: absolute pixel area at image_size, or a fraction when relative.
    saturation: Callable[[int], float]
    relative: bool
