"""`draem`: Zavrtanik et al., "DRAEM — A discriminatively trained reconstruction embedding
for surface anomaly detection", ICCV 2021.

A Perlin-noise map (random scale 2^0..2^5 per axis, rotated by −90..90°) thresholded at
0.5 is the anomaly mask; inside it the canvas is blended with a texture that went
through 3 of DRAEM's 10 augmentations: ``out = (1−β)·image + β·texture`` with the
texture's opacity β drawn from `beta` (the paper draws the image's weight from
[0, 0.8), i.e. β ∈ (0.2, 1]). The mask is the thresholded Perlin map: outside it the
image is unchanged.

The Perlin noise is anomalib's `generate_perlin_noise` (run under a forked, seeded torch
RNG, since it draws from torch's global generator). The augmentations are our own
port of DRAEM's imgaug list to torchvision's functional ops with a seeded NumPy
generator, because anomalib's `PerlinAnomalyGenerator` both draws from the global RNG
and differs from the paper (it fixes the solarize threshold once at construction and
uses AutoAugment where DRAEM uses autocontrast).

Texture sources: ``normal`` (default, no download: another normal canvas, augmented),
``noise`` (procedural: three Perlin maps as RGB channels, augmented) and ``dtd``
(the paper's Describable Textures Dataset, from `dtd_dir`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

import cv2
import numpy as np
from PIL import Image
from pydantic import Field, model_validator

from harness.core import AnomalyPair, GENERATORS, Generator, RequiredFile
from generators.placement import Placement, PlacementParams, check_canvases

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}


def perlin_noise(height: int, width: int, scale: tuple[int, int], seed: int) -> np.ndarray:
    """anomalib's Perlin noise (values about [−1, 1]), made reproducible with a forked torch RNG.

    It runs with one torch thread (restored afterwards): with the default intra-op pool,
    these many small tensor ops were ~50x slower on the shared, busy 2-core machine.
    """
    import torch
    from anomalib.data.utils.generators.perlin import generate_perlin_noise

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            noise = generate_perlin_noise(height, width, scale=scale, device=torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    return noise.numpy()


def _perlin_scale(rng: np.random.Generator, size: int, exponents: tuple[int, int]) -> int:
    pad = 2 ** math.ceil(math.log2(size))
    hi = min(exponents[1], int(math.log2(pad)))  # a scale above the padded size has no cells
    return 2 ** int(rng.integers(min(exponents[0], hi - 1), hi))


def draem_augment(image: np.ndarray, rng: np.random.Generator, count: int = 3) -> np.ndarray:
    """`count` distinct augmentations out of DRAEM's ten, in random order (HxWx3 uint8 in and out).

    torchvision's functional ops on PIL images (single-threaded PIL kernels, fast on a busy CPU).
    """
    img = Image.fromarray(np.ascontiguousarray(image))
    _load_torchvision()
    for k in rng.choice(10, size=count, replace=False):
        img = _AUGMENTERS[int(k)](img, rng)
    return np.array(img, dtype=np.uint8)


TF: Any = None  # torchvision.transforms.v2.functional, imported on first use (keeps registry imports fast)
InterpolationMode: Any = None


def _load_torchvision() -> None:
    global TF, InterpolationMode
    if TF is None:
        from torchvision.transforms.v2 import InterpolationMode as _mode
        from torchvision.transforms.v2 import functional as _functional

        TF, InterpolationMode = _functional, _mode


def _gamma_contrast(img: Image.Image, rng: np.random.Generator) -> Image.Image:  # GammaContrast((0.5, 2), per_channel)
    return Image.merge("RGB", [TF.adjust_gamma(c, float(rng.uniform(0.5, 2.0))) for c in img.split()])


def _brightness(img: Image.Image, rng: np.random.Generator) -> Image.Image:  # MultiplyAndAddToBrightness
    mul, add = float(rng.uniform(0.8, 1.2)), float(rng.uniform(-30, 30))
    return Image.fromarray(np.clip(np.rint(np.asarray(img, dtype=np.float32) * mul + add), 0, 255).astype(np.uint8))


def _sharpness(img: Image.Image, rng: np.random.Generator) -> Image.Image:  # pillike.EnhanceSharpness
    return TF.adjust_sharpness(img, float(rng.uniform(0.0, 2.0)))


def _hue_saturation(img: Image.Image, rng: np.random.Generator) -> Image.Image:  # AddToHueAndSaturation((-50, 50))
    img = TF.adjust_hue(img, float(rng.uniform(-50, 50)) / 360.0)
    return TF.adjust_saturation(img, 1.0 + float(rng.uniform(-50, 50)) / 100.0)


def _solarize(img: Image.Image, rng: np.random.Generator) -> Image.Image:  # Solarize(0.5, threshold=(32, 128))
    threshold = float(rng.uniform(32, 128))
    return TF.solarize(img, threshold) if rng.random() < 0.5 else img


def _posterize(img: Image.Image, rng: np.random.Generator) -> Image.Image:  # Posterize(nb_bits=(1, 8))
    return TF.posterize(img, int(rng.integers(1, 9)))


def _invert(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.invert(img)


def _autocontrast(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.autocontrast(img)


def _equalize(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.equalize(img)


def _rotate(img: Image.Image, rng: np.random.Generator) -> Image.Image:  # Affine(rotate=(-45, 45))
    return TF.rotate(img, float(rng.uniform(-45, 45)), interpolation=InterpolationMode.BILINEAR, fill=0)


_AUGMENTERS = (
    _gamma_contrast,
    _brightness,
    _sharpness,
    _hue_saturation,
    _solarize,
    _posterize,
    _invert,
    _autocontrast,
    _equalize,
    _rotate,
)


@GENERATORS.register("draem")
class Draem(Generator):
    """DRAEM (Zavrtanik et al., ICCV 2021): augmented texture blended into a thresholded Perlin-noise mask."""

    name = "draem"
    conditions_on_defect_type: ClassVar[bool] = False
    keeps_canvas_outside_mask: ClassVar[bool] = True
    #: Read by benchmarks/generator_speed.py: sampling needs no model training.
    needs_training: ClassVar[bool] = False

    class Params(PlacementParams):
        #: Where the texture comes from: another normal image, procedural Perlin colour noise, or DTD.
        texture_source: Literal["normal", "noise", "dtd"] = "normal"
        #: Folder of DTD images (searched recursively); required for texture_source: dtd.
        dtd_dir: str | None = None
        #: Texture opacity β inside the mask, drawn uniformly from [min, max).
        beta: tuple[float, float] = (0.2, 1.0)
        #: Perlin scale exponents: scale = 2^k per axis, k drawn from [min, max).
        perlin_scale_exponents: tuple[int, int] = (0, 6)
        #: Perlin value above which a pixel is anomalous.
        threshold: float = Field(0.5, gt=-1.0, lt=1.0)
        #: Rotation of the noise map in degrees.
        rotation: tuple[float, float] = (-90.0, 90.0)
        #: How many of DRAEM's ten texture augmentations to chain.
        augmentations: int = Field(3, ge=0, le=10)
        #: Fewest mask pixels (fraction of the image) a sample must have; else the noise is redrawn.
        min_mask_fraction: float = Field(0.001, ge=0.0, lt=1.0)

        @model_validator(mode="after")
        def _check(self):
            lo, hi = self.beta
            if not (0.0 <= lo <= hi <= 1.0):
                raise ValueError(f"beta must satisfy 0 <= min <= max <= 1, got {self.beta}")
            lo, hi = self.perlin_scale_exponents
            if not (0 <= lo < hi <= 10):
                raise ValueError(f"perlin_scale_exponents must satisfy 0 <= min < max <= 10, got {(lo, hi)}")
            if self.rotation[0] > self.rotation[1]:
                raise ValueError(f"rotation min is larger than max: {self.rotation}")
            if self.texture_source == "dtd" and not self.dtd_dir:
                raise ValueError("texture_source 'dtd' needs dtd_dir (the folder of the DTD images)")
            if self.dtd_dir and self.texture_source != "dtd":
                raise ValueError("dtd_dir is only used with texture_source: dtd; set texture_source: dtd")
            return self

    @classmethod
    def required_files(cls, params: "Draem.Params") -> list[RequiredFile]:
        """The DTD texture folder, when the textures come from DTD."""
        if not params.dtd_dir:
            return []
        return [RequiredFile("dtd_dir", params.dtd_dir, "path", "DTD texture folder",
                             "point dtd_dir at an existing folder or unset it")]

    def __init__(self, params: dict[str, Any] | None, context) -> None:
        super().__init__(params, context)
        self._placement = Placement(self.params.placement)
        self._dtd_files: list[Path] = []

    def fit(self, normal_images: Sequence[np.ndarray], anomaly_pairs: Sequence[AnomalyPair], *, seed: int) -> None:
        """Find the object (placement) and, for DTD, the texture files; nothing is trained."""
        self._placement.fit(check_canvases(normal_images, self.name), generator=self.name)
        if self.params.texture_source == "dtd":
            self._dtd_files = self._list_dtd()

    def _list_dtd(self) -> list[Path]:
        root = Path(self.params.dtd_dir or "")
        if not root.is_dir():
            raise ValueError(f"{root}: DTD folder not found; download DTD and set draem's dtd_dir to its images/ folder")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{root}: no images found in the DTD folder; point dtd_dir at DTD's images/ folder")
        return files

    def sample(self, n, *, normal_images, defect_type=None, seed) -> list[AnomalyPair]:
        canvases = check_canvases(normal_images, self.name)
        if self.params.texture_source == "dtd" and not self._dtd_files:
            self._dtd_files = self._list_dtd()

        def one(i, region, rng):
            return (*self._one(canvases, i, region(i), rng), self.name)

        return self._placement.sample_pairs(canvases, n, seed=seed, generator=self.name, one=one)

    def _mask(self, h: int, w: int, region: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        min_pixels = max(1, int(p.min_mask_fraction * h * w))
        noise = None
        for _ in range(20):
            noise = self._rotated_noise(h, w, rng)
            mask = noise > p.threshold
            if region is not None:
                mask &= region
            if mask.sum() >= min_pixels:
                return mask
        # Unlucky or tiny region: keep the noise's highest values (on the region) instead.
        values = noise if region is None else np.where(region, noise, -np.inf)
        cutoff = np.partition(values.ravel(), -min_pixels)[-min_pixels]
        return values >= cutoff

    def _rotated_noise(self, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        scale = (
            _perlin_scale(rng, h, p.perlin_scale_exponents),
            _perlin_scale(rng, w, p.perlin_scale_exponents),
        )
        noise = perlin_noise(h, w, scale, int(rng.integers(2**63)))
        angle = float(rng.uniform(*p.rotation))
        # Rotate about the centre, bilinear, zero fill (as imgaug's Affine in DRAEM).
        rotation = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
        return cv2.warpAffine(noise.astype(np.float32), rotation, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)

    def _texture(self, canvases: list[np.ndarray], i: int, rng: np.random.Generator) -> np.ndarray:
        h, w = canvases[i].shape[:2]
        source = self.params.texture_source
        if source == "normal":
            others = [j for j in range(len(canvases)) if j != i] or [i]
            texture = canvases[others[int(rng.integers(len(others)))]]
        elif source == "noise":
            channels = []
            for _ in range(3):
                scale = (_perlin_scale(rng, h, (1, 6)), _perlin_scale(rng, w, (1, 6)))
                channels.append(perlin_noise(h, w, scale, int(rng.integers(2**63))))
            texture = np.clip((np.stack(channels, axis=2) + 1.0) * 127.5, 0, 255).astype(np.uint8)
        else:
            path = self._dtd_files[int(rng.integers(len(self._dtd_files)))]
            with Image.open(path) as img:
                texture = np.asarray(img.convert("RGB").resize((w, h), Image.BILINEAR))
        return draem_augment(texture, rng, self.params.augmentations)

    def _one(self, canvases: list[np.ndarray], i: int, region: np.ndarray | None, rng: np.random.Generator):
        canvas = canvases[i]
        h, w = canvas.shape[:2]
        mask = self._mask(h, w, region, rng)
        texture = self._texture(canvases, i, rng).astype(np.float32)
        beta = float(rng.uniform(*self.params.beta))
        image = canvas.copy()
        blended = (1.0 - beta) * canvas[mask].astype(np.float32) + beta * texture[mask]
        image[mask] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
        return image, mask
