"""Object-aware placement shared by the pasting/blending generators.

Synthetic defects on the empty background of an object category (a screw on a white
plate) teach a detector the wrong thing, so every baseline generator takes a
``placement`` param: ``"anywhere"`` (the papers' behaviour), ``"object"`` (only on the
foreground) or ``"auto"`` (object when a foreground is found that covers 5–95 % of the
image, anywhere otherwise — textures have no foreground to find).

The foreground is `harness.core.foreground`'s estimate (the one DH-Diff and the
"mask on object" generation metric use): per canvas its own object/background split (border
colour distance, Otsu), falling back to the set-level object mask fitted on the normal
training images when a canvas does not split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import numpy as np

from harness.core import AnomalyPair, PluginParams
from harness.core.foreground import (  # noqa: F401  (re-exported: the placement API names them)
    MAX_COVERAGE, MIN_COVERAGE, ObjectEstimate, estimate_foreground, fit_object,
)

PlacementMode = Literal["auto", "anywhere", "object"]

#: A canvas' placement region, computed once per canvas index (None = anywhere).
RegionOf = Callable[[int], "np.ndarray | None"]
#: One pair from canvas `i`: (image, mask, defect type); draws only from `rng`.
OnePair = Callable[[int, RegionOf, np.random.Generator], tuple[np.ndarray, np.ndarray, str]]


@dataclass
class Placement:
    """Decides, per canvas, the region a synthetic defect may be placed in (None = anywhere)."""

    mode: PlacementMode = "auto"
    #: Set by `fit`: whether object placement is in force.
    use_object: bool | None = None
    #: Set by `fit`: the object of the normal images (None after `load` of an old file: per-canvas only).
    estimate: ObjectEstimate | None = None

    def fit(self, normal_images: Sequence[np.ndarray], *, generator: str, max_images: int = 16) -> None:
        """Decide from the normal images whether there is a foreground to place defects on."""
        if self.mode == "anywhere":
            self.use_object = False
            return
        self.estimate = fit_object(normal_images, max_images=max_images)
        share = self.estimate.found_share
        if self.mode == "object" and share < 0.5:
            raise ValueError(
                f"{generator}: placement 'object' but no foreground covering "
                f"{MIN_COVERAGE:.0%}-{MAX_COVERAGE:.0%} of the image was found in "
                f"{share:.0%} of the normal images; set placement: auto or anywhere"
            )
        self.use_object = self.estimate.has_object

    def region(self, image: np.ndarray) -> np.ndarray | None:
        """Foreground of this canvas when object placement is on (its own split, else the normal
        images' set-level object mask), else None (anywhere)."""
        if self.use_object is None:
            raise RuntimeError("Placement.fit must run before region (call the generator's fit first)")
        if not self.use_object:
            return None
        if self.estimate is None:
            return estimate_foreground(image)
        return self.estimate.region(image)

    def sample_pairs(self, canvases: list[np.ndarray], n: int, *, seed: int, generator: str,
                     one: OnePair) -> list[AnomalyPair]:
        """The sampling loop of every pasting generator: seeded, one canvas drawn per pair, each
        canvas' region computed once; `one` makes the pair. A generator sampled without `fit`
        decides its placement on the canvases."""
        if self.use_object is None:
            self.fit(canvases, generator=generator)
        rng = np.random.default_rng(seed)
        regions: dict[int, np.ndarray | None] = {}

        def region(k: int) -> np.ndarray | None:
            if k not in regions:
                regions[k] = self.region(canvases[k])
            return regions[k]

        pairs = []
        for _ in range(n):
            image, mask, kind = one(int(rng.integers(len(canvases))), region, rng)
            pairs.append(AnomalyPair(image=image, mask=mask, defect_type=kind))
        return pairs


def sample_position(
    rng: np.random.Generator,
    image_hw: tuple[int, int],
    patch_h: int,
    patch_w: int,
    *,
    region: np.ndarray | None = None,
    footprint: np.ndarray | None = None,
    min_overlap: float = 0.5,
    tries: int = 50,
) -> tuple[int, int]:
    """Top-left (y, x) for a patch_h x patch_w patch lying fully inside an image of `image_hw`.

    Without a `region`, uniform over all valid positions (the papers' behaviour). With one,
    the patch centre lies on the region, and the first candidate whose `footprint`
    (default: the whole rectangle) overlaps the region by at least `min_overlap` wins;
    after `tries` candidates the best-overlapping one is taken.
    """
    h, w = image_hw
    if patch_h > h or patch_w > w:
        raise ValueError(f"patch {patch_h}x{patch_w} does not fit an image of {h}x{w}")
    if region is None:
        return int(rng.integers(0, h - patch_h + 1)), int(rng.integers(0, w - patch_w + 1))
    # Valid top-left positions whose patch centre is on the region.
    centres = region[patch_h // 2 : h - patch_h + patch_h // 2 + 1, patch_w // 2 : w - patch_w + patch_w // 2 + 1]
    ys, xs = np.nonzero(centres)
    if len(ys) == 0:
        return int(rng.integers(0, h - patch_h + 1)), int(rng.integers(0, w - patch_w + 1))
    fp = np.ones((patch_h, patch_w), dtype=bool) if footprint is None else footprint
    area = max(1, int(fp.sum()))
    best, best_overlap = (0, 0), -1.0
    for _ in range(tries):
        k = int(rng.integers(0, len(ys)))
        y, x = int(ys[k]), int(xs[k])
        overlap = float((region[y : y + patch_h, x : x + patch_w] & fp).sum()) / area
        if overlap >= min_overlap:
            return y, x
        if overlap > best_overlap:
            best, best_overlap = (y, x), overlap
    return best


class PlacementParams(PluginParams):
    """The `placement` param every baseline generator shares."""

    placement: PlacementMode = "auto"


def check_canvases(normal_images: Sequence[np.ndarray], generator: str, *, at_least: int = 1) -> list[np.ndarray]:
    """The canvases as a list, or a one-line error saying what is wrong with them."""
    images = list(normal_images)
    if len(images) < at_least:
        raise ValueError(f"{generator}: needs at least {at_least} normal image(s) as canvases, got {len(images)}")
    shape = images[0].shape
    for i, img in enumerate(images):
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"{generator}: normal image {i} must be HxWx3 uint8, got {img.shape} {img.dtype}")
        if img.shape != shape:
            raise ValueError(f"{generator}: normal image {i} is {img.shape}, image 0 is {shape}; resize all to one size")
    return images
