"""`nsa`: Schlüter et al., "Natural Synthetic Anomalies for Self-Supervised Anomaly
Detection and Localization", ECCV 2022.

Up to `num_patches` rectangles (the first always, each further one with probability ½)
are cut from ANOTHER normal image, resized by a factor drawn from N(1, 0.5) clipped to
`resize_bounds`, moved to a random place and blended in with Poisson image editing
(OpenCV's `seamlessClone`, normal cloning as in the paper's main NSA setting). Patch
half-widths follow the paper's gamma law: ``(lower + Gamma(shape, scale)) · size``,
clipped to `width_bounds` (fractions of the image side).

The mask: Poisson blending changes pixels smoothly, so the mask is the pixels inside the
patch footprints whose mean absolute change exceeds `tol` (the paper's ``tol=1``),
plus the holes a 5×5 median filter fills (the paper median-filters the label; we let the
filter add pixels but never drop a changed one, so outside the mask no pixel changed by
more than `tol`). With
``intensity_logistic: true`` the paper's logistic intensity label
``1 / (1 + exp(−k·(d − x0)))`` (d = the change, median-filtered over a disk of radius 5)
is computed and, because our masks are binary, thresholded at 0.5 — i.e. a pixel is
anomalous where the smoothed change exceeds ``x0``.

Object placement (``placement: object`` / ``object_mask: true``) is the paper's
"skip background": the source patch must be ≥ `min_object_pct` object, overlap the
destination object by ≥ `min_overlap_pct`, and only object pixels are blended. The
paper finds the object with a per-category brightness threshold; we use the shared
estimate of `generators.placement`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Sequence

import cv2
import numpy as np
from pydantic import Field, model_validator
from scipy import ndimage

from harness.core import AnomalyPair, GENERATORS, Generator
from generators.placement import Placement, PlacementParams, check_canvases

_ATTEMPTS = 200
_MIN_CLONE_PIXELS = 50  # seamlessClone fails on tinier masks (paper's code skips them too)


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return yy**2 + xx**2 <= radius**2


@GENERATORS.register("nsa")
class NaturalSyntheticAnomalies(Generator):
    """NSA (Schlüter et al., ECCV 2022): Poisson-blended, resized patches from another normal image."""

    name = "nsa"
    conditions_on_defect_type: ClassVar[bool] = False
    #: Read by benchmarks/generator_speed.py: sampling needs no model training.
    needs_training: ClassVar[bool] = False

    class Params(PlacementParams):
        #: Most patches per image (first always, each further one with probability 1/2).
        num_patches: int = Field(3, ge=1, le=16)
        #: Patch half-width bounds as fractions of the image side, per axis ((min, max) rows, (min, max) cols).
        width_bounds: tuple[tuple[float, float], tuple[float, float]] = ((0.03, 0.4), (0.03, 0.4))
        #: Half-width law: lower + Gamma(shape, scale), as a fraction of the side.
        gamma_shape: float = Field(2.0, gt=0)
        gamma_scale: float = Field(0.05, gt=0)
        gamma_lower: float = Field(0.03, ge=0)
        #: Random resize factor N(1, 0.5) clipped to these bounds.
        resize_bounds: tuple[float, float] = (0.7, 1.3)
        #: Poisson cloning mode: OpenCV normal or mixed gradients, or a coin flip between them.
        mode: Literal["normal", "mixed", "mix"] = "normal"
        #: Mean absolute intensity change (0-255) a pixel needs to be in the mask.
        tol: float = Field(1.0, ge=0)
        #: Use the paper's logistic intensity label (thresholded at 0.5) instead of the binary one.
        intensity_logistic: bool = False
        #: (k, x0) of the logistic label; after thresholding at 0.5 only x0 matters.
        logistic_params: tuple[float, float] = (1 / 6, 15.0)
        #: Object placement: least object share of the source patch and least overlap with the destination object.
        min_object_pct: float = Field(0.7, ge=0, le=1)
        min_overlap_pct: float = Field(0.25, ge=0, le=1)
        #: Paper's name for object placement; when set it overrides `placement` (true = object, false = anywhere).
        object_mask: bool | None = None

        @model_validator(mode="after")
        def _check(self):
            for axis, (lo, hi) in zip(("rows", "cols"), self.width_bounds):
                if not (0 < lo <= hi < 0.5):
                    raise ValueError(f"width_bounds ({axis}) must satisfy 0 < min <= max < 0.5, got {(lo, hi)}")
            lo, hi = self.resize_bounds
            if not (0 < lo <= hi):
                raise ValueError(f"resize_bounds must satisfy 0 < min <= max, got {self.resize_bounds}")
            return self

    def __init__(self, params: dict[str, Any] | None, context) -> None:
        super().__init__(params, context)
        mode = self.params.placement
        if self.params.object_mask is not None:
            mode = "object" if self.params.object_mask else "anywhere"
        self._placement = Placement(mode)

    def fit(self, normal_images: Sequence[np.ndarray], anomaly_pairs: Sequence[AnomalyPair], *, seed: int) -> None:
        """Find the object (placement); nothing is trained."""
        self._placement.fit(check_canvases(normal_images, self.name), generator=self.name)

    def sample(self, n, *, normal_images, defect_type=None, seed) -> list[AnomalyPair]:
        canvases = check_canvases(normal_images, self.name)

        def one(i, region, rng):
            others = [j for j in range(len(canvases)) if j != i] or [i]
            for _attempt in range(20):
                j = others[int(rng.integers(len(others)))]
                image, mask = self._one(canvases[i], canvases[j], region(i), region(j), rng)
                if mask.any():
                    return image, mask, self.name
            raise RuntimeError(
                f"{self.name}: no visible patch after 20 tries (canvases too small or too uniform); "
                "lower tol or widen width_bounds"
            )

        return self._placement.sample_pairs(canvases, n, seed=seed, generator=self.name, one=one)

    # --- one sample -------------------------------------------------------------------------

    def _one(self, dest, src, dest_obj, src_obj, rng):
        p = self.params
        h, w = dest.shape[:2]
        use_objects = dest_obj is not None and src_obj is not None
        out = dest.copy()
        footprint = np.zeros((h, w), dtype=bool)
        for k in range(p.num_patches):
            if k > 0 and rng.integers(2) == 0:
                continue
            box = self._patch(out, src, dest_obj if use_objects else None, src_obj if use_objects else None, rng)
            if box is not None:
                out, (y0, y1, x0, x1) = box
                footprint[y0:y1, x0:x1] = True
        change = np.abs(out.astype(np.float32) - dest.astype(np.float32)).mean(axis=2)
        changed = (change > p.tol) & footprint
        # The paper median-filters the label against grain; we only let the filter fill holes,
        # so every pixel that changed by more than `tol` stays in the mask.
        label = (changed | cv2.medianBlur(changed.astype(np.uint8), 5).astype(bool)) & footprint
        if p.intensity_logistic:
            smoothed = ndimage.median_filter(np.where(label, change, 0.0), footprint=_disk(5))
            k, x0 = p.logistic_params
            logistic = 1.0 / (1.0 + np.exp(-k * (smoothed - x0)))
            label &= logistic > 0.5
        return out, label

    def _half_width(self, side: int, bounds: tuple[float, float], rng: np.random.Generator) -> int:
        p = self.params
        lo, hi = round(bounds[0] * side), round(bounds[1] * side)
        lo = max(lo, 2)
        hi = max(hi, lo)
        return int(np.clip((p.gamma_lower + rng.gamma(p.gamma_shape, p.gamma_scale)) * side, lo, hi))

    def _patch(self, dest, src, dest_obj, src_obj, rng):
        """Blend one patch; returns (new image, (y0, y1, x0, x1)) or None when no place was found."""
        p = self.params
        h, w = dest.shape[:2]
        (r_lo, r_hi), (c_lo, c_hi) = p.width_bounds
        hw_r, hw_c = self._half_width(h, (r_lo, r_hi), rng), self._half_width(w, (c_lo, c_hi), rng)
        min_r, min_c = max(2, round(r_lo * h)), max(2, round(c_lo * w))
        # Source rectangle (on the source object when placing on objects).
        for _ in range(_ATTEMPTS):
            cy, cx = int(rng.integers(min_r, max(min_r + 1, h - min_r))), int(rng.integers(min_c, max(min_c + 1, w - min_c)))
            sy0, sy1 = max(0, cy - hw_r), min(h, cy + hw_r)
            sx0, sx1 = max(0, cx - hw_c), min(w, cx + hw_c)
            if src_obj is None or src_obj[sy0:sy1, sx0:sx1].mean() > p.min_object_pct:
                break
        else:
            return None
        patch = src[sy0:sy1, sx0:sx1]
        patch_obj = None if src_obj is None else src_obj[sy0:sy1, sx0:sx1]
        # Resize, keeping the aspect ratio, within twice the half-width bounds and the image.
        scale = float(np.clip(rng.normal(1.0, 0.5), *p.resize_bounds))
        ph, pw = patch.shape[:2]
        new_h = int(np.clip(round(scale * ph), 2 * min_r, min(2 * round(r_hi * h), h - 4)))
        new_w = int(np.clip(round(new_h / ph * pw), 2 * min_c, min(2 * round(c_hi * w), w - 4)))
        if (new_h, new_w) != (ph, pw):
            patch = cv2.resize(patch, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            if patch_obj is not None:
                patch_obj = cv2.resize(patch_obj.astype(np.uint8), (new_w, new_h), interpolation=cv2.INTER_NEAREST) > 0
        ph, pw = patch.shape[:2]
        # Destination: anywhere the patch fits with a 1-px margin; on objects, overlapping the object.
        for _ in range(_ATTEMPTS):
            y0 = int(rng.integers(1, h - ph))
            x0 = int(rng.integers(1, w - pw))
            if patch_obj is None:
                break
            dest_patch_obj = dest_obj[y0 : y0 + ph, x0 : x0 + pw]
            obj_area = patch_obj.sum()
            if obj_area / patch_obj.size > p.min_object_pct and (dest_patch_obj & patch_obj).sum() / max(1, obj_area) > p.min_overlap_pct:
                break
        else:
            return None
        blend = np.ones((ph, pw), dtype=bool)
        clone_mask = blend.copy()
        if patch_obj is not None:
            dest_patch_obj = dest_obj[y0 : y0 + ph, x0 : x0 + pw]
            blend = patch_obj | dest_patch_obj
            # Background in both images joins the clone mask to avoid seams (as in the paper's code).
            clone_mask = blend | (~patch_obj & ~dest_patch_obj)
        clone = clone_mask.astype(np.uint8) * 255
        clone[0, :] = clone[-1, :] = clone[:, 0] = clone[:, -1] = 0
        if int((clone > 0).sum()) < _MIN_CLONE_PIXELS:
            return None
        # Keep the clone's bounding box equal to the patch box so the placement is exact.
        ys, xs = np.nonzero(clone)
        by0, by1, bx0, bx1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        centre = (int(x0 + (bx0 + bx1) // 2), int(y0 + (by0 + by1) // 2))
        mode = {"normal": cv2.NORMAL_CLONE, "mixed": cv2.MIXED_CLONE}.get(p.mode)
        if mode is None:
            mode = (cv2.NORMAL_CLONE, cv2.MIXED_CLONE)[int(rng.integers(2))]
        try:
            out = cv2.seamlessClone(np.ascontiguousarray(patch), dest, clone, centre, mode)
        except cv2.error:
            return None
        # Only the blended (object) pixels count as changed: restore anything else in the box.
        if patch_obj is not None:
            keep = np.zeros(dest.shape[:2], dtype=bool)
            keep[y0 : y0 + ph, x0 : x0 + pw] = ~blend
            out[keep] = dest[keep]
        return out, (y0, y0 + ph, x0, x0 + pw)
