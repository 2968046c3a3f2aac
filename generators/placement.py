"""Object-aware placement shared by the pasting/blending generators.

Synthetic defects on the empty background of an object category (a screw on a white
plate) teach a detector the wrong thing, so every baseline generator takes a
``placement`` param: ``"anywhere"`` (the papers' behaviour), ``"object"`` (only on the
foreground) or ``"auto"`` (object when a foreground is found that covers 5–95 % of the
image, anywhere otherwise — textures have no foreground to find).

The foreground is estimated per image without any model: the background colour is the
median of the image's border frame, each pixel's (smoothed) colour distance to it is
split with Otsu's threshold, and the split is accepted only when it is a real two-class
split (the classes are far apart and the border itself is background). scikit-image's
`threshold_otsu` and scipy's morphology do the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from harness.plugin import PluginParams

PlacementMode = Literal["auto", "anywhere", "object"]

#: A foreground covering less or more of the image than this is no usable object.
MIN_COVERAGE, MAX_COVERAGE = 0.05, 0.95
#: Minimum gap (0–255 colour distance) between the mean foreground and mean background distance.
MIN_CLASS_GAP = 25.0
#: Share of the border frame that must fall in the background class.
MIN_BORDER_BACKGROUND = 0.8


def estimate_foreground(image: np.ndarray) -> np.ndarray | None:
    """The object pixels of one HxWx3 uint8 image, or None when no clear object/background split exists."""
    h, w = image.shape[:2]
    img = image.astype(np.float32)
    frame = max(1, round(0.03 * min(h, w)))
    border = np.concatenate(
        [
            img[:frame].reshape(-1, 3),
            img[-frame:].reshape(-1, 3),
            img[:, :frame].reshape(-1, 3),
            img[:, -frame:].reshape(-1, 3),
        ]
    )
    background = np.median(border, axis=0)
    dist = np.linalg.norm(img - background, axis=2)
    # Smooth so that texture grain does not count as structure.
    dist = ndimage.gaussian_filter(dist, sigma=max(1.0, 0.01 * min(h, w)))
    if float(dist.max() - dist.min()) < MIN_CLASS_GAP:
        return None
    threshold = threshold_otsu(dist)
    fg = dist > threshold
    if not fg.any() or fg.all():
        return None
    if float(dist[fg].mean() - dist[~fg].mean()) < MIN_CLASS_GAP:
        return None
    border_mask = np.zeros((h, w), dtype=bool)
    border_mask[:frame] = border_mask[-frame:] = True
    border_mask[:, :frame] = border_mask[:, -frame:] = True
    if float((~fg[border_mask]).mean()) < MIN_BORDER_BACKGROUND:
        return None
    radius = max(1, round(0.01 * min(h, w)))
    structure = np.ones((2 * radius + 1, 2 * radius + 1), dtype=bool)
    fg = ndimage.binary_opening(fg, structure=structure)
    fg = ndimage.binary_closing(fg, structure=structure)
    fg = ndimage.binary_fill_holes(fg)
    coverage = float(fg.mean())
    if not MIN_COVERAGE <= coverage <= MAX_COVERAGE:
        return None
    return fg


@dataclass
class Placement:
    """Decides, per canvas, the region a synthetic defect may be placed in (None = anywhere)."""

    mode: PlacementMode = "auto"
    #: Set by `fit`: whether object placement is in force.
    use_object: bool | None = None

    def fit(self, normal_images: Sequence[np.ndarray], *, generator: str, max_images: int = 16) -> None:
        """Decide from the normal images whether there is a foreground to place defects on."""
        if self.mode == "anywhere":
            self.use_object = False
            return
        found = [estimate_foreground(img) is not None for img in list(normal_images)[:max_images]]
        share = float(np.mean(found)) if found else 0.0
        if self.mode == "object" and share < 0.5:
            raise ValueError(
                f"{generator}: placement 'object' but no foreground covering "
                f"{MIN_COVERAGE:.0%}-{MAX_COVERAGE:.0%} of the image was found in "
                f"{share:.0%} of the normal images; set placement: auto or anywhere"
            )
        self.use_object = share >= 0.5

    def region(self, image: np.ndarray) -> np.ndarray | None:
        """Foreground of this canvas when object placement is on and one is found, else None."""
        if self.use_object is None:
            raise RuntimeError("Placement.fit must run before region (call the generator's fit first)")
        if not self.use_object:
            return None
        return estimate_foreground(image)


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
