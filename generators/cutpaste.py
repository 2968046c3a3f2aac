"""`cutpaste` and `cutpaste-scar`: Li et al., "CutPaste: Self-Supervised Learning for
Anomaly Detection and Localization", CVPR 2021.

A rectangle (``cutpaste``) or a thin rotated scar (``cutpaste-scar``) is cut from a random
place of the canvas, colour-jittered and pasted back at another random place of the same
canvas. The mask is the paste footprint: outside it the image is unchanged, inside it
every pixel comes from the (jittered, rotated) patch — a pasted pixel may equal the one
it covers, which is still where the defect is.

Colour jitter uses torchvision's functional ops (on PIL images) with factors drawn from
our own seeded NumPy generator (``v2.ColorJitter`` draws from torch's global RNG), in a
random order as ``ColorJitter`` does. The scar is rotated with PIL (nearest, ``expand=True``) like the
reference implementation, so its footprint is the rotated patch's alpha.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

import numpy as np
from PIL import Image
from pydantic import Field, model_validator

from harness.core import AnomalyPair, GENERATORS, Generator
from generators.placement import Placement, PlacementParams, check_canvases, sample_position


def color_jitter(patch: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness, contrast, saturation (factor in [1-s, 1+s]) and hue (shift in [-s, s]) in random order.

    Runs torchvision's functional ops on a PIL image (its single-threaded PIL kernels):
    on small patches torch tensors are dominated by thread-pool overhead on a busy CPU.
    """
    from torchvision.transforms.v2 import functional as TF  # lazy: keeps registry imports fast

    if strength <= 0:
        return patch.copy()
    img = Image.fromarray(np.ascontiguousarray(patch))
    factors = {
        "brightness": float(rng.uniform(1 - strength, 1 + strength)),
        "contrast": float(rng.uniform(1 - strength, 1 + strength)),
        "saturation": float(rng.uniform(1 - strength, 1 + strength)),
        "hue": float(rng.uniform(-min(strength, 0.5), min(strength, 0.5))),
    }
    ops = {
        "brightness": TF.adjust_brightness,
        "contrast": TF.adjust_contrast,
        "saturation": TF.adjust_saturation,
        "hue": TF.adjust_hue,
    }
    for k in rng.permutation(4):
        name = ("brightness", "contrast", "saturation", "hue")[int(k)]
        img = ops[name](img, factors[name])
    return np.array(img, dtype=np.uint8)


def _ordered(pair: tuple[float, float], name: str) -> tuple[float, float]:
    if pair[0] > pair[1]:
        raise ValueError(f"{name} range min {pair[0]} is larger than max {pair[1]}")
    return pair


class _PastingGenerator(Generator):
    """Shared sampling loop: pick a canvas, make one defect on it, placement-aware."""

    conditions_on_defect_type: ClassVar[bool] = False
    keeps_canvas_outside_mask: ClassVar[bool] = True
    #: Read by benchmarks/generator_speed.py: sampling needs no model training.
    needs_training: ClassVar[bool] = False

    def __init__(self, params: dict[str, Any] | None, context) -> None:
        super().__init__(params, context)
        self._placement = Placement(self.params.placement)

    def fit(self, normal_images: Sequence[np.ndarray], anomaly_pairs: Sequence[AnomalyPair], *, seed: int) -> None:
        """Nothing to learn but where the object is (`placement`)."""
        self._placement.fit(check_canvases(normal_images, self.name), generator=self.name)

    def sample(self, n, *, normal_images, defect_type=None, seed) -> list[AnomalyPair]:
        canvases = check_canvases(normal_images, self.name)

        def one(i, region, rng):
            return (*self._one(canvases[i], region(i), rng), self.name)

        return self._placement.sample_pairs(canvases, n, seed=seed, generator=self.name, one=one)

    def _one(self, canvas: np.ndarray, region: np.ndarray | None, rng: np.random.Generator):
        raise NotImplementedError  # pragma: no cover - subclasses implement


@GENERATORS.register("cutpaste")
class CutPaste(_PastingGenerator):
    """CutPaste (Li et al., CVPR 2021): a jittered rectangle of the image pasted elsewhere on it."""

    name = "cutpaste"

    class Params(PlacementParams):
        #: Patch area as a fraction of the image area.
        area_ratio: tuple[float, float] = (0.02, 0.15)
        #: Patch aspect ratio (width / height), drawn log-uniformly: (0.3, 1) ∪ (1, 3.3).
        aspect_ratio: tuple[float, float] = (0.3, 3.3)
        #: Brightness/contrast/saturation/hue jitter strength (the paper's 0.1).
        color_jitter: float = Field(0.1, ge=0.0, le=1.0)

        @model_validator(mode="after")
        def _check(self):
            lo, hi = _ordered(self.area_ratio, "area_ratio")
            if lo <= 0 or hi >= 1:
                raise ValueError(f"area_ratio must lie in (0, 1), got {self.area_ratio}")
            lo, hi = _ordered(self.aspect_ratio, "aspect_ratio")
            if lo <= 0:
                raise ValueError(f"aspect_ratio must be positive, got {self.aspect_ratio}")
            return self

    def _one(self, canvas, region, rng):
        p = self.params
        h, w = canvas.shape[:2]
        area = rng.uniform(*p.area_ratio) * h * w
        aspect = math.exp(rng.uniform(math.log(p.aspect_ratio[0]), math.log(p.aspect_ratio[1])))
        pw = int(np.clip(round(math.sqrt(area * aspect)), 1, w))
        ph = int(np.clip(round(math.sqrt(area / aspect)), 1, h))
        sy, sx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
        patch = color_jitter(canvas[sy : sy + ph, sx : sx + pw], rng, p.color_jitter)
        dy, dx = sample_position(rng, (h, w), ph, pw, region=region)
        image = canvas.copy()
        image[dy : dy + ph, dx : dx + pw] = patch
        mask = np.zeros((h, w), dtype=bool)
        mask[dy : dy + ph, dx : dx + pw] = True
        return image, mask


@GENERATORS.register("cutpaste-scar")
class CutPasteScar(_PastingGenerator):
    """CutPaste-Scar (Li et al., CVPR 2021): a thin, rotated, jittered strip pasted elsewhere."""

    name = "cutpaste-scar"

    class Params(PlacementParams):
        #: Scar width and length in pixels at `reference_size` (the paper's 256 px images).
        width: tuple[float, float] = (2.0, 16.0)
        length: tuple[float, float] = (10.0, 25.0)
        #: Rotation in degrees.
        rotation: tuple[float, float] = (-45.0, 45.0)
        color_jitter: float = Field(0.1, ge=0.0, le=1.0)
        #: Image size the pixel sizes refer to; they scale linearly with the run's size.
        reference_size: int = Field(256, gt=0)

        @model_validator(mode="after")
        def _check(self):
            for name in ("width", "length"):
                lo, _ = _ordered(getattr(self, name), name)
                if lo <= 0:
                    raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
            _ordered(self.rotation, "rotation")
            return self

    def _one(self, canvas, region, rng):
        p = self.params
        h, w = canvas.shape[:2]
        scale = min(h, w) / p.reference_size
        cw = int(np.clip(round(rng.uniform(*p.width) * scale), 1, w))
        ch = int(np.clip(round(rng.uniform(*p.length) * scale), 1, h))
        sy, sx = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        patch = color_jitter(canvas[sy : sy + ch, sx : sx + cw], rng, p.color_jitter)
        angle = float(rng.uniform(*p.rotation))
        rotated = np.asarray(Image.fromarray(patch).convert("RGBA").rotate(angle, expand=True))
        # A patch rotated to more than the image size (tiny images) is cropped to fit.
        rotated = rotated[:h, :w]
        rgb, footprint = rotated[..., :3], rotated[..., 3] > 0
        if not footprint.any():  # degenerate 1-px rotation: keep the unrotated patch
            rgb, footprint = patch, np.ones(patch.shape[:2], dtype=bool)
        rh, rw = footprint.shape
        dy, dx = sample_position(rng, (h, w), rh, rw, region=region, footprint=footprint)
        image = canvas.copy()
        window = image[dy : dy + rh, dx : dx + rw]
        window[footprint] = rgb[footprint]
        mask = np.zeros((h, w), dtype=bool)
        mask[dy : dy + rh, dx : dx + rw] = footprint
        return image, mask
