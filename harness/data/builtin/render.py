"""One image of the built-in dataset and its exact defect masks, from (seed, category, split, index)."""

from __future__ import annotations

import math
import zlib

import numpy as np

from harness.data.builtin.categories import (
    _CLIPPED,
    _REGIONS,
    _SCENES,
    BUILTIN_CATEGORIES,
    CAMERA_JITTER,
    DEFECT_SCALE,
)
from harness.data.builtin.defects import structural_defect
from harness.data.builtin.draw import Canvas
from harness.data.table import DatasetError

_SPLIT_IDS = {"train": 1, "validation": 2, "test_good": 3, "logical_anomalies": 4, "structural_anomalies": 5}


def _rng(seed: int, category: str, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(category.encode()), _SPLIT_IDS[split], index]))


def _finish(rng: np.random.Generator, cv: Canvas, img: np.ndarray) -> np.ndarray:
    """Lighting (brightness + gradient) and sensor noise, then quantise."""
    s = cv.size
    bright = rng.uniform(0.93, 1.06)
    ang = rng.uniform(0, 2 * math.pi)
    grad = rng.uniform(0.0, 0.12)
    light = bright * (1 + grad * ((cv.x / s - 0.5) * math.cos(ang) + (cv.y / s - 0.5) * math.sin(ang)))
    img = img * light[..., None] + rng.normal(0.0, 0.01, img.shape).astype(np.float32)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def render_sample(category: str, split: str, index: int, *, image_size: int = 128, seed: int = 0, defect: str | None = None) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """One image and its defects as (defect_name, mask) pairs (empty for normal images)."""
    if category not in _SCENES:
        raise DatasetError(f"unknown builtin category '{category}'; choose from {', '.join(BUILTIN_CATEGORIES)}")
    rng = _rng(seed, category, split, index)
    cv = Canvas(image_size)  # pixel frame: structural defects, lighting
    jitter = CAMERA_JITTER[category]
    scene_cv = Canvas(
        image_size,
        shift=tuple(rng.uniform(-jitter[0], jitter[0], 2) * image_size),
        angle=math.radians(rng.uniform(-jitter[1], jitter[1])),
    )
    scene_maker = _SCENES[category](scene_cv)
    logical = defect if defect in scene_maker.logical else None
    scene, masks = scene_maker.scene(rng, logical=logical)
    img = scene.render()
    defects: list[tuple[str, np.ndarray]] = [(defect, m) for m in masks] if logical else []
    if defect is not None and logical is None:
        if defect not in scene_maker.structural:
            raise DatasetError(f"unknown defect '{defect}' for builtin category '{category}'")
        region = scene.regions[_REGIONS[category][defect]]
        n = 2 if rng.uniform() < 0.2 else 1  # some images carry two defects, two masks
        for _ in range(n):
            img, m = structural_defect(rng, cv, img, defect, region, clip=(category, defect) in _CLIPPED, scale=DEFECT_SCALE[category])
            defects.append((defect, m))
    return _finish(rng, cv, img), defects
