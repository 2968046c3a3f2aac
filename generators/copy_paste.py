"""`copy-paste`: real defects of the generator-train split, cut out and pasted on normal images.

The simplest way to use a few real anomalies (the "copy-paste" baseline of the
few-shot synthesis literature, e.g. Ghiasi et al., CVPR 2021 for instance
segmentation): each real pair's defect pixels (its whole mask, so a multi-part defect
stays together) are cut out, augmented (horizontal/vertical flip, rotation by a multiple
of 90°, scale in `scale`) and pasted at a random position of a normal canvas — on the
object when `placement` finds one. The output mask is exactly the pasted region: the
defect's mask after the same augmentation, dilated by `context_px` when asked (default 0:
no surrounding normal pixels are carried along, so the mask is only defect pixels).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar, Sequence

import cv2
import numpy as np
from pydantic import Field, model_validator
from scipy import ndimage

from harness.core import AnomalyPair, GENERATORS, Generator
from generators.placement import ObjectEstimate, Placement, PlacementParams, check_canvases, sample_position
from harness.core.fsio import atomic_path


def _resize_masked(patch: np.ndarray, mask: np.ndarray, new_h: int, new_w: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize a masked patch so the new mask and colours share one sampling grid and the colours
    come from defect pixels only (premultiplied alpha); a sliver that vanishes keeps its size."""
    alpha = mask.astype(np.float32)
    premultiplied = patch.astype(np.float32) * alpha[..., None]
    new_alpha = cv2.resize(alpha, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    new_mask = new_alpha > 0.5
    if not new_mask.any():
        return patch, mask
    colours = cv2.resize(premultiplied, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    colours = colours / np.maximum(new_alpha, 1e-6)[..., None]
    return np.clip(np.rint(colours), 0, 255).astype(np.uint8), new_mask


@GENERATORS.register("copy-paste")
class CopyPaste(Generator):
    """Copy-paste: real defect regions of the generator-train pairs pasted onto normal images."""

    name = "copy-paste"
    needs_real_anomalies: ClassVar[bool] = True
    conditions_on_defect_type: ClassVar[bool] = True
    keeps_canvas_outside_mask: ClassVar[bool] = True
    #: Read by benchmarks/generator_speed.py: sampling needs no model training.
    needs_training: ClassVar[bool] = False

    class Params(PlacementParams):
        #: Random scale of the cut defect.
        scale: tuple[float, float] = (0.8, 1.2)
        #: Random horizontal/vertical flips and rotations by multiples of 90°.
        flip: bool = True
        rotate90: bool = True
        #: Pixels of context around the defect to carry along (the mask grows with them).
        context_px: int = Field(0, ge=0, le=64)
        #: Paste at the defect's original place (no flip/rotation) — for aligned objects.
        keep_position: bool = False

        @model_validator(mode="after")
        def _check(self):
            lo, hi = self.scale
            if not (0 < lo <= hi):
                raise ValueError(f"scale must satisfy 0 < min <= max, got {self.scale}")
            return self

    def __init__(self, params: dict[str, Any] | None, context) -> None:
        super().__init__(params, context)
        self._placement = Placement(self.params.placement)
        self._cuts: dict[str, list[tuple[np.ndarray, np.ndarray, tuple[int, int]]]] = {}

    def fit(self, normal_images: Sequence[np.ndarray], anomaly_pairs: Sequence[AnomalyPair], *, seed: int) -> None:
        """Cut the defect region (mask bounding box) out of every real pair, grouped by defect type."""
        canvases = check_canvases(normal_images, self.name)
        usable = [p for p in anomaly_pairs if p.mask.any()]
        if not usable:
            raise ValueError(
                f"{self.name}: needs real anomalies with non-empty masks in the generator-train split, "
                f"got {len(anomaly_pairs)} pair(s) with {len(anomaly_pairs) - len(usable)} empty mask(s); "
                "give the split generator-train anomalies or pick a generator that needs none"
            )
        cuts: dict[str, list] = defaultdict(list)
        for pair in usable:
            mask = pair.mask
            if self.params.context_px:
                r = self.params.context_px
                disk = np.add.outer(np.arange(-r, r + 1) ** 2, np.arange(-r, r + 1) ** 2) <= r * r
                mask = ndimage.binary_dilation(mask, structure=disk)
            ys, xs = np.nonzero(mask)
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            cuts[pair.defect_type].append((pair.image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy(), (int(y0), int(x0))))
        self._cuts = dict(cuts)
        self._placement.fit(canvases, generator=self.name)

    def save(self, path: Path) -> None:
        """Write the cut defects (images, masks, origins, types) to one .npz file."""
        arrays: dict[str, np.ndarray] = {}
        k = 0
        for kind, cuts in self._cuts.items():
            for patch, mask, origin in cuts:
                arrays[f"patch_{k}"], arrays[f"mask_{k}"] = patch, mask
                arrays[f"origin_{k}"], arrays[f"type_{k}"] = np.array(origin), np.array(kind)
                k += 1
        arrays["use_object"] = np.array(-1 if self._placement.use_object is None else int(self._placement.use_object))
        est = self._placement.estimate
        if est is not None and est.frequency is not None:  # the normal images' object, for canvases that do not split
            arrays["object_frequency"], arrays["object_found_share"] = est.frequency, np.array(est.found_share)
            arrays["object_n_images"] = np.array(est.n_images)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, what=f"the saved {self.name} model") as tmp, open(tmp, "wb") as f:
            np.savez(f, count=np.array(k), **arrays)  # a file object: numpy appends no ".npz", load(path) finds it

    def load(self, path: Path) -> None:
        """Restore what `save` wrote."""
        with np.load(Path(path), allow_pickle=False) as data:
            cuts: dict[str, list] = defaultdict(list)
            for k in range(int(data["count"])):
                origin = tuple(int(v) for v in data[f"origin_{k}"])
                cuts[str(data[f"type_{k}"])].append((data[f"patch_{k}"], data[f"mask_{k}"], origin))
            use_object = int(data["use_object"])
            if "object_frequency" in data:
                self._placement.estimate = ObjectEstimate(float(data["object_found_share"]), data["object_frequency"],
                                                          int(data["object_n_images"]))
        self._cuts = dict(cuts)
        self._placement.use_object = None if use_object < 0 else bool(use_object)

    @property
    def defect_types(self) -> list[str]:
        return sorted(self._cuts)

    def sample(self, n, *, normal_images, defect_type=None, seed) -> list[AnomalyPair]:
        if not self._cuts:
            raise RuntimeError(f"{self.name}: call fit with the generator-train anomaly pairs before sample")
        canvases = check_canvases(normal_images, self.name)
        if defect_type is not None and defect_type not in self._cuts:
            raise ValueError(
                f"{self.name}: no real pairs of defect type '{defect_type}' were given to fit; "
                f"known: {', '.join(self.defect_types)}"
            )
        pool = [(t, c) for t in ([defect_type] if defect_type else self.defect_types) for c in self._cuts[t]]

        def one(i, region, rng):
            kind, (patch, patch_mask, origin) = pool[int(rng.integers(len(pool)))]
            return (*self._paste(canvases[i], region(i), patch, patch_mask, origin, rng), kind)

        return self._placement.sample_pairs(canvases, n, seed=seed, generator=self.name, one=one)

    def _paste(self, canvas, region, patch, patch_mask, origin, rng):
        p = self.params
        h, w = canvas.shape[:2]
        if not p.keep_position:
            if p.flip and rng.random() < 0.5:
                patch, patch_mask = patch[:, ::-1], patch_mask[:, ::-1]
            if p.flip and rng.random() < 0.5:
                patch, patch_mask = patch[::-1], patch_mask[::-1]
            if p.rotate90:
                k = int(rng.integers(4))
                patch, patch_mask = np.rot90(patch, k), np.rot90(patch_mask, k)
        scale = float(rng.uniform(*p.scale))
        orig_h, orig_w = patch_mask.shape
        # Never larger than the canvas.
        scale = min(scale, h / orig_h, w / orig_w)
        new_h, new_w = max(1, round(orig_h * scale)), max(1, round(orig_w * scale))
        patch = np.ascontiguousarray(patch)
        patch_mask = np.ascontiguousarray(patch_mask)
        if (new_h, new_w) != (orig_h, orig_w):
            patch, patch_mask = _resize_masked(patch, patch_mask, new_h, new_w)
        ph, pw = patch_mask.shape
        if p.keep_position:  # same centre as in the source image, jittered by up to 5 % of the side
            jitter = max(1, round(0.05 * min(h, w)))
            y = origin[0] + (orig_h - ph) // 2 + int(rng.integers(-jitter, jitter + 1))
            x = origin[1] + (orig_w - pw) // 2 + int(rng.integers(-jitter, jitter + 1))
            y, x = int(np.clip(y, 0, h - ph)), int(np.clip(x, 0, w - pw))
        else:
            y, x = sample_position(rng, (h, w), ph, pw, region=region, footprint=patch_mask)
        image = canvas.copy()
        window = image[y : y + ph, x : x + pw]
        window[patch_mask] = patch[patch_mask]
        mask = np.zeros((h, w), dtype=bool)
        mask[y : y + ph, x : x + pw] = patch_mask
        return image, mask
