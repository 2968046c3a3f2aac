"""Where the object is: one foreground estimate from normal images, shared by every user.

Synthetic defects on the empty background of an object category (a mark on the table beside a
pushpin tray, a blob outside a bottle) teach a detector the wrong thing and are what users
complain about in generated sets. Three places need to know where the object is, and they use
this one estimate:

* the pasting baselines' object-aware placement (`generators.placement`),
* DH-Diff's windows and masks (`generators/dhdiff`, param `placement`),
* the generation metric "fraction of mask area on the object" (`harness.metrics.generation`).

How (no model, no weights): per image, the background colour is the median of the image's
border frame; each pixel's colour distance to it is smoothed (Gaussian, so texture grain does
not count as structure) and split with Otsu's threshold (scikit-image); the split is accepted
only when it is a real two-class split (the classes are far apart, the border itself is
background, the object covers 5–95 % of the image); then scipy's binary opening, closing and
hole filling clean it. Over a set of normal images (`fit_object`) the per-pixel frequency of
"object" gives a set-level mask (object where at least half the images say so), used for an
image whose own split fails. A set where fewer than half the images split is a texture: no
object, every position counts.

Defects must not move the estimate: `estimate_foreground(image, ignore=mask)` first fills the
masked pixels with the colour of the nearest unmasked pixel (scipy's Euclidean distance
transform), so a dark blob painted on the white background does not become "object".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

#: A foreground covering less or more of the image than this is no usable object.
MIN_COVERAGE, MAX_COVERAGE = 0.05, 0.95
#: Minimum gap (0–255 colour distance) between the mean foreground and mean background distance.
MIN_CLASS_GAP = 25.0
#: Share of the border frame that must fall in the background class.
MIN_BORDER_BACKGROUND = 0.8
#: Colour distance (0–255) above the border's own 99th percentile that counts as object.
NOISE_MARGIN = 30.0
#: Share of a set's images that must split into object/background for the set to have an object.
MIN_FOUND_SHARE = 0.5


def fill_masked(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`image` with the pixels under `mask` replaced by the nearest unmasked pixel's colour."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any() or mask.all():
        return image
    _, (iy, ix) = ndimage.distance_transform_edt(mask, return_indices=True)
    return image[iy, ix]


def estimate_foreground(image: np.ndarray, ignore: np.ndarray | None = None) -> np.ndarray | None:
    """The object pixels (HxW bool) of one HxWx3 uint8 image, or None when no clear
    object/background split exists. Pixels under `ignore` (a defect mask) are filled from their
    surroundings first, so the defect itself does not move the estimate."""
    if ignore is not None:
        image = fill_masked(image, ignore)
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
    # Otsu splits the brightest part off when the object has several colours (a white label on
    # a dark red bottle): everything clearly farther from the background colour than the border
    # itself ever is (its 99th percentile plus a margin) is object too.
    noise = float(np.quantile(dist[border_mask], 0.99)) + NOISE_MARGIN
    if noise < threshold:
        fg = dist > noise
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
class ObjectEstimate:
    """The object of one image set: the share of images that split, and the per-pixel frequency
    of "object" over those that did (None when none did or the images differ in size)."""

    found_share: float
    frequency: np.ndarray | None
    n_images: int

    @property
    def has_object(self) -> bool:
        """True when the set has an object to place on (False: a texture, every position counts)."""
        return self.found_share >= MIN_FOUND_SHARE and self.frequency is not None

    @property
    def set_mask(self) -> np.ndarray | None:
        """Object where at least half of the split images say so; None for a texture."""
        return self.frequency >= 0.5 if self.has_object else None

    def region(self, image: np.ndarray | None = None, ignore: np.ndarray | None = None) -> np.ndarray | None:
        """The object of `image` (its own split, else the set mask when the sizes agree); without
        an image the set mask; None for a texture."""
        if not self.has_object:
            return None
        if image is not None:
            own = estimate_foreground(image, ignore)
            if own is not None:
                return own
            if image.shape[:2] != self.frequency.shape:
                return None
        return self.set_mask


def fit_object(images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None = None, *,
               max_images: int = 32) -> ObjectEstimate:
    """The object of a set of images (normal images; or anomalies with their `masks` ignored),
    from at most `max_images` of them spread evenly over the set (deterministic)."""
    images = list(images)
    if not images:
        return ObjectEstimate(0.0, None, 0)
    picks = np.unique(np.linspace(0, len(images) - 1, min(max_images, len(images))).round().astype(int))
    found = []
    for i in picks:
        fg = estimate_foreground(images[i], None if masks is None else masks[i])
        if fg is not None:
            found.append(fg)
    share = len(found) / len(picks)
    shapes = {f.shape for f in found}
    frequency = np.mean(found, axis=0) if found and len(shapes) == 1 else None
    return ObjectEstimate(share, frequency, len(picks))


def on_object_fraction(masks: Sequence[np.ndarray], regions: Sequence[np.ndarray | None]) -> float | None:
    """Mask pixels on the object / all mask pixels, pooled over the masks (None: no mask pixel).
    A region of None (texture) counts every pixel as on the object."""
    on = total = 0
    for mask, region in zip(masks, regions):
        m = np.asarray(mask, dtype=bool)
        total += int(m.sum())
        on += int(m.sum()) if region is None else int((m & region).sum())
    return on / total if total else None
