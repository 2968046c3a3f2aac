"""The built-in procedural dataset: LOCO-like inspection scenes drawn with numpy, offline.

Why our own: the benchmark must run on machines without internet, where MVTec LOCO / AD
cannot be downloaded, and tests need real structure (components, rules between them,
subtle and obvious defects) with *exact* masks. Every scene is drawn from anti-aliased
signed-distance primitives on a float canvas, so each defect's mask is exactly the set of
pixels the defect changed (structural) or the footprint of the component that breaks a
rule (logical).

Output is MVTec LOCO AD layout (see `synthesize`), byte-for-byte reproducible for a seed:
each image has its own RNG seeded from (seed, category, split, kind, index), and PNGs are
written with fixed options (no timestamps, fixed zlib level).

Categories (see docs/data.md for what each defect is):

- ``pushpins``: a 3x6 tray holding exactly 15 pins (which 3 compartments are empty varies),
  all pins one colour per image (the colour varies between images).
- ``screw_bag``: one long screw, one short screw, two nuts, two washers, scattered.
- ``juice_bottle``: a bottle whose juice colour must match the fruit icon on its label,
  filled to the neck, label centred (both within a small tolerance).
- ``tiles``: a 4x4 tiled surface with exactly three accent-coloured tiles at random places.

Logical anomalies consist of normal-looking components only (a pin of a colour other images
use, one accent tile too many); mostly the broken rule is a count over the whole image, so
no patch is abnormal on its own. Structural ones are clearly visible (v6: scratches and cracks
2.8-5.4 px wide at 128 px, contrast 15-60 %), ~15 % of them faint (8-15 %).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from harness.data.table import DatasetError

BUILTIN_CATEGORIES: tuple[str, ...] = ("pushpins", "screw_bag", "juice_bottle", "tiles")
#: Bump when drawing changes, so caches keyed on it are rebuilt.
BUILTIN_VERSION = 6

DEFAULT_COUNTS = {"train": 120, "validation": 20, "test_good": 40, "per_defect": 30}

_SPLIT_IDS = {"train": 1, "validation": 2, "test_good": 3, "logical_anomalies": 4, "structural_anomalies": 5}


# --------------------------------------------------------------------------------------
# Drawing primitives: anti-aliased coverage maps (float32 HxW in [0, 1]) from SDFs.
# --------------------------------------------------------------------------------------


class Canvas:
    """Pixel-centre coordinates of an SxS image, shared by every primitive."""

    def __init__(self, size: int, *, shift: tuple[float, float] = (0.0, 0.0), angle: float = 0.0):
        """`shift` (pixels) and `angle` (radians) move the camera: scene content drawn in
        scene coordinates appears shifted and rotated, as when parts sit in a fixture
        that is never placed quite the same way twice."""
        self.size = size
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        c = size / 2
        px, py = xx + 0.5 - c - shift[0], yy + 0.5 - c - shift[1]
        ca, sa = math.cos(angle), math.sin(angle)
        self.x = (c + px * ca + py * sa).astype(np.float32)
        self.y = (c - px * sa + py * ca).astype(np.float32)
        self.margin = math.hypot(*shift) + size * 0.75 * abs(angle) + 1.0
        self.box_slice: tuple[slice, slice] | None = None  # None: the whole image

    def window(self, x0: float, y0: float, x1: float, y1: float) -> "Canvas":
        """A view of the pixels in [x0, x1) x [y0, y1): small components draw only there."""
        s, m = self.size, self.margin
        c0, r0 = max(int(math.floor(x0 - m)), 0), max(int(math.floor(y0 - m)), 0)
        c1, r1 = min(int(math.ceil(x1 + m)), s), min(int(math.ceil(y1 + m)), s)
        win = Canvas.__new__(Canvas)
        win.size, win.margin = s, m
        win.box_slice = (slice(r0, max(r1, r0 + 1)), slice(c0, max(c1, c0 + 1)))
        win.x = self.x[win.box_slice]
        win.y = self.y[win.box_slice]
        return win

    def _cov(self, sdf: np.ndarray) -> np.ndarray:
        return np.clip(0.5 - sdf, 0.0, 1.0).astype(np.float32)

    def disc(self, cx: float, cy: float, r: float) -> np.ndarray:
        return self._cov(np.hypot(self.x - cx, self.y - cy) - r)

    def ring(self, cx: float, cy: float, r_out: float, r_in: float) -> np.ndarray:
        d = np.hypot(self.x - cx, self.y - cy)
        return self._cov(np.maximum(d - r_out, r_in - d))

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, angle: float = 0.0) -> np.ndarray:
        u, v = self._rot(cx, cy, angle)
        k = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
        return self._cov((k - 1.0) * min(rx, ry))

    def box(self, x0: float, y0: float, x1: float, y1: float, radius: float = 0.0) -> np.ndarray:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        hx, hy = (x1 - x0) / 2 - radius, (y1 - y0) / 2 - radius
        qx = np.abs(self.x - cx) - hx
        qy = np.abs(self.y - cy) - hy
        outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
        inside = np.minimum(np.maximum(qx, qy), 0)
        return self._cov(outside + inside - radius)

    def capsule(self, x0: float, y0: float, x1: float, y1: float, r: float) -> np.ndarray:
        return self._cov(self.segment_distance(x0, y0, x1, y1) - r)

    def hexagon(self, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
        u, v = self._rot(cx, cy, angle)
        d = np.zeros_like(u)
        for k in range(3):  # max over the 3 pairs of opposite edges
            a = k * math.pi / 3
            d = np.maximum(d, np.abs(u * math.cos(a) + v * math.sin(a)))
        return self._cov(d - r * math.cos(math.pi / 6))

    def polyline(self, pts: np.ndarray, width: float | Sequence[float]) -> np.ndarray:
        """A stroke through `pts`: one `width`, or one width per segment (a tapering line)."""
        d = np.full(self.x.shape, np.inf, dtype=np.float32)
        if np.ndim(width) == 0:
            for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
                d = np.minimum(d, self.segment_distance(x0, y0, x1, y1))
            return self._cov(d - width / 2)
        for (x0, y0), (x1, y1), w in zip(pts[:-1], pts[1:], width):
            d = np.minimum(d, self.segment_distance(x0, y0, x1, y1) - float(w) / 2)
        return self._cov(d)

    def blob(self, cx: float, cy: float, r: float, harmonics: Sequence[tuple[int, float, float]], soft: float = 1.0) -> np.ndarray:
        """Irregular closed shape: radius modulated by a few angular harmonics; `soft` (pixels)
        widens the edge ramp (1: anti-aliased, more: a soft-edged stain)."""
        dx, dy = self.x - cx, self.y - cy
        theta = np.arctan2(dy, dx)
        rad = np.full_like(theta, 1.0)
        for k, amp, phase in harmonics:
            rad = rad + amp * np.cos(k * theta + phase)
        sdf = np.hypot(dx, dy) - r * rad
        return self._cov(sdf if soft == 1.0 else sdf / np.float32(soft))

    def segment_distance(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        px, py = self.x - x0, self.y - y0
        vx, vy = x1 - x0, y1 - y0
        t = np.clip((px * vx + py * vy) / max(vx * vx + vy * vy, 1e-9), 0.0, 1.0)
        return np.hypot(px - t * vx, py - t * vy)

    def _rot(self, cx: float, cy: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
        c, s = math.cos(angle), math.sin(angle)
        dx, dy = self.x - cx, self.y - cy
        return dx * c + dy * s, -dx * s + dy * c


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-ish low-frequency noise: a cells x cells grid, bilinearly upsampled."""
    grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    pos = (np.arange(size, dtype=np.float32) + 0.5) / size * cells
    i0 = np.clip(np.floor(pos).astype(int), 0, cells - 1)
    t = pos - i0
    w = np.zeros((size, cells + 1), dtype=np.float32)
    w[np.arange(size), i0] = 1 - t
    w[np.arange(size), i0 + 1] += t
    # einsum, not BLAS matmul: no thread pool, and the same sums in the same order everywhere
    return np.einsum("ik,jk->ij", np.einsum("ik,kj->ij", w, grid), w)


def over(img: np.ndarray, alpha: np.ndarray, colour: np.ndarray | Sequence[float]) -> np.ndarray:
    """Composite `colour` (RGB or HxWx3) over `img` with coverage `alpha`."""
    a = alpha[..., None]
    return img * (1 - a) + np.asarray(colour, dtype=np.float32) * a


def bezier(rng: np.random.Generator, p0: np.ndarray, p2: np.ndarray, bend: float, n: int = 14) -> np.ndarray:
    mid = (p0 + p2) / 2
    normal = np.array([-(p2 - p0)[1], (p2 - p0)[0]], dtype=np.float32)
    p1 = mid + normal * bend * rng.uniform(-1, 1)
    t = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


# --------------------------------------------------------------------------------------
# Scenes: a list of components (coverage layers), each with a footprint for logical masks.
# --------------------------------------------------------------------------------------


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


def _shade(rgb: Sequence[float], k: float) -> np.ndarray:
    return np.clip(np.asarray(rgb, dtype=np.float32) * k, 0, 1)


def _jitter_colour(rng: np.random.Generator, rgb: Sequence[float], amount: float = 0.03) -> np.ndarray:
    return np.clip(np.asarray(rgb, dtype=np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32), 0, 1)


# ---------------------------------- pushpins ------------------------------------------

PIN_COLOURS = {
    "yellow": (0.93, 0.78, 0.16),
    "blue": (0.20, 0.40, 0.85),
    "red": (0.84, 0.20, 0.18),
    "green": (0.25, 0.68, 0.30),
}


class Pushpins:
    """An 18-compartment tray holding exactly 15 pins: which compartments stay empty varies,
    so an empty or a filled compartment is normal on its own; the count is the rule, and one
    pin per compartment (half the ``additional_pushpin`` images put a second pin into an
    occupied compartment: the one logical defect with a local cue, v6)."""

    rows, cols, n_pins = 3, 6, 15
    logical = ("missing_pushpin", "additional_pushpin", "wrong_colour_pushpin")
    structural = ("scratch", "contamination", "broken_pushpin")

    def __init__(self, cv: Canvas):
        self.cv = cv
        s = cv.size
        self.x0, self.y0, self.x1, self.y1 = 0.05 * s, 0.06 * s, 0.95 * s, 0.94 * s
        self.cw = (self.x1 - self.x0) / self.cols
        self.ch = (self.y1 - self.y0) / self.rows
        self.r = 0.04 * s

    def logical_areas(self, s: int) -> dict[str, float]:
        pin = math.pi * (0.04 * s) ** 2 * 1.6  # head + needle + shadow
        return dict.fromkeys(self.logical, pin)

    def cell(self, i: int) -> tuple[float, float, float, float]:
        r, c = divmod(i, self.cols)
        return (self.x0 + c * self.cw, self.y0 + r * self.ch, self.x0 + (c + 1) * self.cw, self.y0 + (r + 1) * self.ch)

    def _pin_pos(self, rng: np.random.Generator, i: int, jitter: float = 0.35) -> tuple[float, float]:
        x0, y0, x1, y1 = self.cell(i)
        jx, jy = (self.cw - 2.6 * self.r) * jitter, (self.ch - 2.6 * self.r) * jitter
        return ((x0 + x1) / 2 + rng.uniform(-jx, jx), (y0 + y1) / 2 + rng.uniform(-jy, jy))

    def pin(self, rng: np.random.Generator, cx: float, cy: float, colour: np.ndarray) -> Component:
        r = self.r * rng.uniform(0.95, 1.05)
        ang = rng.uniform(0, 2 * math.pi)
        ln = 0.05 * self.cv.size
        reach = ln + r + 2
        cv = self.cv.window(cx - reach, cy - reach, cx + reach, cy + reach)
        box = cv.box_slice
        nx, ny = cx + math.cos(ang) * ln, cy + math.sin(ang) * ln
        off = 0.012 * cv.size
        shadow = cv.disc(cx + off, cy + off, r * 1.05) * 0.35
        needle = cv.capsule(cx, cy, nx, ny, max(0.006 * cv.size, 0.45))
        head = cv.disc(cx, cy, r)
        rim = cv.ring(cx, cy, r, r * 0.72) * 0.25
        hl = cv.disc(cx - 0.35 * r, cy - 0.35 * r, 0.3 * r) * 0.55
        return Component(
            "pin",
            [
                Layer(shadow, np.array([0.25, 0.25, 0.25], np.float32), box),
                Layer(needle, np.array([0.62, 0.63, 0.66], np.float32), box),
                Layer(head, colour, box),
                Layer(rim, _shade(colour, 0.6), box),
                Layer(hl, np.array([1.0, 1.0, 1.0], np.float32), box),
            ],
            {"centre": (cx, cy), "r": r},
        )

    def scene(self, rng: np.random.Generator, *, logical: str | None = None) -> tuple[Scene, list[np.ndarray]]:
        cv, s = self.cv, self.cv.size
        tray = _jitter_colour(rng, (0.80, 0.80, 0.77), 0.02)
        bg = np.empty((s, s, 3), np.float32)
        bg[:] = _shade(tray, 0.55)  # table around the tray
        inner = cv.box(self.x0, self.y0, self.x1, self.y1, 0.02 * s)
        bg = over(bg, inner, tray + 0.02 * smooth_noise(rng, s, 8)[..., None])
        wall = np.zeros((s, s), np.float32)
        for c in range(1, self.cols):
            x = self.x0 + c * self.cw + rng.uniform(-0.3, 0.3)
            wall = np.maximum(wall, cv.box(x - 0.008 * s, self.y0, x + 0.008 * s, self.y1))
        for r in range(1, self.rows):
            y = self.y0 + r * self.ch + rng.uniform(-0.3, 0.3)
            wall = np.maximum(wall, cv.box(self.x0, y - 0.008 * s, self.x1, y + 0.008 * s))
        bg = over(bg, wall, _shade(tray, 0.8))
        colour_name = rng.choice(list(PIN_COLOURS))
        base = np.asarray(PIN_COLOURS[colour_name], np.float32)
        n = self.rows * self.cols
        occupied = sorted(rng.choice(n, size=self.n_pins, replace=False).tolist())
        empty = [i for i in range(n) if i not in occupied]
        pins = [self.pin(rng, *self._pin_pos(rng, i), _jitter_colour(rng, base, 0.025)) for i in occupied]
        masks: list[np.ndarray] = []
        if logical == "missing_pushpin":
            k = 1 if rng.uniform() < 0.75 else 2
            for j in sorted(rng.choice(len(pins), size=k, replace=False).tolist(), reverse=True):
                masks.append(pins[j].footprint(s))  # where the pin was
                del pins[j]
        elif logical == "additional_pushpin":
            if rng.uniform() < 0.5:  # an empty compartment filled
                pos = self._pin_pos(rng, int(rng.choice(empty)))
            else:  # a second pin squeezed into an occupied compartment (LOCO-like: a local
                # cue, v6), on the roomier side of the pin already there
                j = int(rng.integers(len(pins)))
                x0, y0, x1, y1 = self.cell(occupied[j])
                px, py = pins[j].meta["centre"]
                up = py > (y0 + y1) / 2 if abs(py - (y0 + y1) / 2) > 1e-6 else rng.uniform() < 0.5
                pos = ((x0 + x1) / 2 + rng.uniform(-0.1, 0.1) * self.r, py + (-1 if up else 1) * 2.35 * self.r)
            extra = self.pin(rng, *pos, _jitter_colour(rng, base, 0.025))
            pins.append(extra)
            masks.append(extra.footprint(s))
        elif logical == "wrong_colour_pushpin":
            j = int(rng.integers(len(pins)))
            other = rng.choice([c for c in PIN_COLOURS if c != colour_name])
            cx, cy = pins[j].meta["centre"]
            pins[j] = self.pin(rng, cx, cy, _jitter_colour(rng, PIN_COLOURS[other], 0.025))
            masks.append(pins[j].footprint(s))
        heads = np.zeros((s, s), bool)
        for p in pins:
            heads |= p.layers[2].full(s) > 0.5
        tray_free = (inner > 0.5) & (wall < 0.05)
        return Scene(bg, pins, {"surface": tray_free, "object": heads, "any": tray_free | heads}), masks


# ---------------------------------- screw_bag -----------------------------------------


class ScrewBag:
    logical = ("screw_too_long", "screw_too_short", "additional_part")
    structural = ("scratch", "contamination", "stain")

    def __init__(self, cv: Canvas):
        self.cv = cv

    def logical_areas(self, s: int) -> dict[str, float]:
        short_screw = 0.27 * s * 0.044 * s + math.pi * (0.05 * s) ** 2
        return {"screw_too_long": short_screw, "screw_too_short": short_screw, "additional_part": math.pi * (0.06 * s) ** 2}

    def screw(self, rng: np.random.Generator, cx: float, cy: float, ang: float, length: float) -> Component:
        s = self.cv.size
        dx, dy = math.cos(ang), math.sin(ang)
        hx, hy = cx - dx * length / 2, cy - dy * length / 2
        tx, ty = cx + dx * length / 2, cy + dy * length / 2
        pad = 0.08 * s
        cv = self.cv.window(min(hx, tx) - pad, min(hy, ty) - pad, max(hx, tx) + pad, max(hy, ty) + pad)
        box = cv.box_slice
        rs = 0.022 * s
        metal = _jitter_colour(rng, (0.66, 0.67, 0.70), 0.03)
        shaft = cv.capsule(hx, hy, tx, ty, rs)
        along = (cv.x - hx) * dx + (cv.y - hy) * dy
        across = -(cv.x - hx) * dy + (cv.y - hy) * dx
        thread = 0.5 + 0.5 * np.sin(2 * math.pi * along / (0.028 * s))
        shading = 1.1 - 0.35 * (across / rs) ** 2 - 0.18 * thread
        tex = np.clip(metal[None, None, :] * shading[..., None], 0, 1)
        head = cv.disc(hx, hy, 0.05 * s)
        slot = cv.capsule(hx - dy * 0.035 * s, hy + dx * 0.035 * s, hx + dy * 0.035 * s, hy - dx * 0.035 * s, 0.007 * s)
        shadow = cv.capsule(hx + 0.012 * s, hy + 0.012 * s, tx + 0.012 * s, ty + 0.012 * s, rs * 1.1) * 0.3
        return Component(
            "screw",
            [
                Layer(shadow, np.array([0.3, 0.3, 0.32], np.float32), box),
                Layer(shaft, tex, box),
                Layer(head, _shade(metal, 1.08), box),
                Layer(slot * head, _shade(metal, 0.45), box),
            ],
        )

    def flat_part(self, rng: np.random.Generator, kind: str, cx: float, cy: float) -> Component:
        s = self.cv.size
        metal = _jitter_colour(rng, (0.70, 0.70, 0.72), 0.03)
        R = 0.06 * s * rng.uniform(0.97, 1.03)
        pad = R + 0.02 * s + 2
        cv = self.cv.window(cx - pad, cy - pad, cx + pad, cy + pad)
        box = cv.box_slice
        if kind == "nut":
            outer = cv.hexagon(cx, cy, R, rng.uniform(0, math.pi))
            alpha = np.clip(outer - cv.disc(cx, cy, 0.45 * R), 0, 1)
        else:
            alpha = cv.ring(cx, cy, R, 0.42 * R)
        shade = 1.0 + 0.15 * ((cv.x - cx) - (cv.y - cy)) / (2 * R)
        tex = np.clip(metal[None, None, :] * shade[..., None], 0, 1)
        shadow = np.clip(cv.disc(cx + 0.012 * s, cy + 0.012 * s, R) - cv.disc(cx + 0.012 * s, cy + 0.012 * s, 0.45 * R), 0, 1) * 0.3
        return Component(kind, [Layer(shadow, np.array([0.3, 0.3, 0.32], np.float32), box), Layer(alpha, tex, box)])

    def scene(self, rng: np.random.Generator, *, logical: str | None = None) -> tuple[Scene, list[np.ndarray]]:
        cv, s = self.cv, self.cv.size
        bag = _jitter_colour(rng, (0.80, 0.83, 0.87), 0.01)  # v6: less tint and wrinkle variation
        bg = np.empty((s, s, 3), np.float32)
        bg[:] = bag
        bg = bg + (0.02 * smooth_noise(rng, s, 5) + 0.008 * smooth_noise(rng, s, 14))[..., None]
        bag_edge = cv.box(0.04 * s, 0.04 * s, 0.96 * s, 0.96 * s, 0.06 * s)
        bg = over(np.full_like(bg, 0.35), bag_edge, bg)
        long_len, short_len = 0.42 * s, 0.27 * s
        parts: list[tuple[str, float]] = [("long", long_len), ("short", short_len), ("nut", 0), ("nut", 0), ("washer", 0), ("washer", 0)]
        targets: list[int] = []
        if logical == "screw_too_long":
            parts[1], targets = ("long", long_len), [1]
        elif logical == "screw_too_short":
            parts[0], targets = ("short", short_len), [0]
        elif logical == "additional_part":
            parts.append((str(rng.choice(["nut", "washer"])), 0))
            targets = [len(parts) - 1]
        comps: list[Component] = []
        placed: list[tuple[np.ndarray, float]] = []  # (points along the part, its radius)
        t = np.linspace(-0.5, 0.5, 7)[:, None]
        for kind, length in parts:
            rad = 0.055 * s if length else 0.068 * s
            for _ in range(500):  # rejection sampling: parts never touch
                ang = rng.uniform(0, 2 * math.pi)
                half = length / 2 + rad
                cx, cy = rng.uniform(0.09 * s, 0.91 * s, 2)
                ends = np.array([[cx - math.cos(ang) * half, cy - math.sin(ang) * half], [cx + math.cos(ang) * half, cy + math.sin(ang) * half]])
                # v6: parts stay clear of the bag's seam (one-class references flagged parts
                # lying at the rarely covered edges)
                if ends.min() < 0.10 * s + rad * 0.5 or ends.max() > 0.90 * s - rad * 0.5:
                    continue
                pts = np.array([cx, cy]) + t * np.array([math.cos(ang), math.sin(ang)]) * length
                if all(np.min(np.linalg.norm(pts[:, None] - q[None], axis=2)) > rad + qr + 0.012 * s for q, qr in placed):
                    break
            placed.append((pts, rad))
            if length:
                comps.append(self.screw(rng, cx, cy, ang, length * rng.uniform(0.97, 1.03)))
            else:
                comps.append(self.flat_part(rng, kind, cx, cy))
        masks = [comps[t].footprint(s) for t in targets]
        objects = np.zeros((s, s), bool)
        for c in comps:
            objects |= c.layers[1].full(s) > 0.5
        surface = (bag_edge > 0.5) & ~objects
        return Scene(bg, comps, {"surface": surface, "object": objects, "any": bag_edge > 0.5}), masks


# ---------------------------------- juice_bottle --------------------------------------

FRUITS = {
    "orange": {"juice": (0.95, 0.55, 0.10), "icon": (0.98, 0.50, 0.04)},
    "cherry": {"juice": (0.55, 0.06, 0.12), "icon": (0.78, 0.06, 0.14)},
    "banana": {"juice": (0.93, 0.88, 0.62), "icon": (0.97, 0.84, 0.18)},
}


class JuiceBottle:
    logical = ("wrong_fill_level", "label_mismatch", "misplaced_label")
    structural = ("contamination", "scratch", "label_stain")

    def __init__(self, cv: Canvas):
        self.cv = cv

    def logical_areas(self, s: int) -> dict[str, float]:
        # fill level: the smallest deviation (0.06 s) across the neck (0.13 s)
        return {"wrong_fill_level": 0.13 * 0.06 * s * s, "label_mismatch": math.pi * (0.05 * s) ** 2, "misplaced_label": 0.37 * 0.30 * s * s}

    def icon(self, fruit: str, cx: float, cy: float) -> Component:
        cv, s = self.cv, self.cv.size
        col = np.asarray(FRUITS[fruit]["icon"], np.float32)
        if fruit == "orange":
            layers = [Layer(cv.disc(cx, cy, 0.05 * s), col), Layer(cv.disc(cx - 0.015 * s, cy - 0.015 * s, 0.012 * s) * 0.5, np.ones(3, np.float32))]
        elif fruit == "cherry":
            stem = cv.polyline(np.array([[cx - 0.025 * s, cy + 0.01 * s], [cx, cy - 0.05 * s], [cx + 0.025 * s, cy + 0.01 * s]], np.float32), 0.008 * s)
            layers = [
                Layer(stem, np.array([0.25, 0.45, 0.15], np.float32)),
                Layer(cv.disc(cx - 0.027 * s, cy + 0.02 * s, 0.027 * s), col),
                Layer(cv.disc(cx + 0.027 * s, cy + 0.02 * s, 0.027 * s), col),
            ]
        else:
            layers = [Layer(np.clip(cv.ellipse(cx, cy, 0.075 * s, 0.03 * s, 0.35) - cv.ellipse(cx + 0.01 * s, cy - 0.022 * s, 0.07 * s, 0.025 * s, 0.35), 0, 1), col)]
        return Component("icon", layers)

    def label(self, rng: np.random.Generator, fruit: str, cx: float, cy: float) -> list[Component]:
        cv, s = self.cv, self.cv.size
        w, h = 0.37 * s, 0.30 * s  # wide: the icon sits well inside it
        paper = _jitter_colour(rng, (0.93, 0.92, 0.88), 0.015)
        sheet = Component("label", [Layer(cv.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, 0.01 * s), paper)])
        lines = Component(
            "text",
            [
                Layer(cv.box(cx - 0.12 * s, cy + 0.07 * s, cx + 0.12 * s, cy + 0.085 * s), np.array([0.2, 0.2, 0.22], np.float32)),
                Layer(cv.box(cx - 0.08 * s, cy + 0.095 * s, cx + 0.08 * s, cy + 0.105 * s), np.array([0.35, 0.35, 0.37], np.float32)),
            ],
        )
        return [sheet, self.icon(fruit, cx, cy - 0.025 * s), lines]

    def scene(self, rng: np.random.Generator, *, logical: str | None = None) -> tuple[Scene, list[np.ndarray]]:
        cv, s = self.cv, self.cv.size
        bg = np.empty((s, s, 3), np.float32)
        bg[:] = _jitter_colour(rng, (0.18, 0.18, 0.20), 0.015)
        bg = bg + 0.02 * smooth_noise(rng, s, 6)[..., None]
        sx = rng.uniform(-0.04, 0.04) * s  # where the bottle stands varies
        body = cv.box(0.30 * s + sx, 0.30 * s, 0.70 * s + sx, 0.94 * s, 0.06 * s)
        neck = cv.box(0.42 * s + sx, 0.10 * s, 0.58 * s + sx, 0.34 * s, 0.02 * s)
        glass = np.maximum(body, neck)
        inner_body = cv.box(0.315 * s + sx, 0.315 * s, 0.685 * s + sx, 0.925 * s, 0.05 * s)
        inner_neck = cv.box(0.435 * s + sx, 0.13 * s, 0.565 * s + sx, 0.34 * s, 0.015 * s)
        inside = np.maximum(inner_body, inner_neck)
        fruit = str(rng.choice(list(FRUITS)))
        fill = (0.20 + rng.uniform(-0.025, 0.025)) * s  # filling varies a little
        masks: list[np.ndarray] = []
        if logical == "wrong_fill_level":
            fill_bad = (rng.uniform(0.245, 0.30) if rng.uniform() < 0.7 else rng.uniform(0.13, 0.145)) * s
            lo, hi = sorted((fill, fill_bad))
            band = inside * np.clip(cv.y - lo + 0.5, 0, 1) * np.clip(hi - cv.y + 0.5, 0, 1)
            masks.append(band > 0.02)
            fill = fill_bad
        level = np.clip(cv.y - fill + 0.5, 0, 1)
        juice_col = _jitter_colour(rng, FRUITS[fruit]["juice"], 0.02)
        juice_tex = np.clip(juice_col[None, None, :] * (1 + 0.04 * smooth_noise(rng, s, 10))[..., None], 0, 1)
        cap_col = _jitter_colour(rng, (0.12, 0.12, 0.14), 0.02)
        comps = [
            Component("glass", [Layer(glass * 0.35, np.array([0.80, 0.84, 0.86], np.float32))]),
            Component("juice", [Layer(inside * level * 0.92, juice_tex)]),
            Component("cap", [Layer(cv.box(0.41 * s + sx, 0.06 * s, 0.59 * s + sx, 0.13 * s, 0.01 * s), cap_col)]),
            Component("glare", [Layer(cv.box(0.34 * s + sx, 0.36 * s, 0.37 * s + sx, 0.88 * s, 0.015 * s) * 0.25, np.ones(3, np.float32))]),
        ]
        lx = 0.5 * s + sx + rng.uniform(-0.015, 0.015) * s
        ly = 0.66 * s + rng.uniform(-0.03, 0.03) * s  # labelling is not exact
        label_fruit, nlx, nly = fruit, lx, ly
        if logical == "label_mismatch":
            label_fruit = str(rng.choice([f for f in FRUITS if f != fruit]))
        elif logical == "misplaced_label":
            if rng.uniform() < 0.5:
                nly = ly + rng.choice([-1, 1]) * rng.uniform(0.055, 0.08) * s
            else:
                nlx = lx + rng.choice([-1, 1]) * rng.uniform(0.04, 0.06) * s
        label = self.label(rng, label_fruit, nlx, nly)
        if logical == "label_mismatch":
            right = self.icon(fruit, lx, ly - 0.025 * s)
            masks.append(label[1].footprint(s) | right.footprint(s))
        elif logical == "misplaced_label":
            expected = self.label(rng, fruit, lx, ly)[0]
            masks.append(label[0].footprint(s) | expected.footprint(s))
        comps += label
        label_region = label[0].layers[0].alpha > 0.5
        liquid = (inside * level > 0.5) & ~label_region
        return Scene(bg, comps, {"liquid": liquid, "label": label_region, "glass": (glass > 0.5) & ~label_region}), masks


# ---------------------------------- tiles ---------------------------------------------

TILE_COLOURS = {
    "terracotta": (0.72, 0.42, 0.30),
    "sand": (0.82, 0.74, 0.58),
    "slate": (0.45, 0.49, 0.53),
}


class Tiles:
    """A 4x4 tiled surface: one base colour and exactly three accent tiles of another colour
    at random places (colours vary between images), stripe texture in a checkerboard of
    orientations. Any tile, accent or not, is normal on its own; the count is the rule."""

    n, n_accent = 4, 3
    logical = ("extra_accent_tile", "missing_accent_tile", "wrong_colour_tile")
    structural = ("crack", "stain", "dent")

    def __init__(self, cv: Canvas):
        self.cv = cv

    def logical_areas(self, s: int) -> dict[str, float]:
        return dict.fromkeys(self.logical, (s / self.n) ** 2)

    def scene(self, rng: np.random.Generator, *, logical: str | None = None) -> tuple[Scene, list[np.ndarray]]:
        cv, s = self.cv, self.cv.size
        ts = s / self.n
        names = list(TILE_COLOURS)
        base_name, accent_name = (str(x) for x in rng.choice(names, size=2, replace=False))
        third = next(k for k in names if k not in (base_name, accent_name))
        grout = _jitter_colour(rng, (0.30, 0.29, 0.27), 0.02)
        bg = np.empty((s, s, 3), np.float32)
        bg[:] = grout
        parity = int(rng.integers(2))
        freq = rng.uniform(0.9, 1.1) * 4.0 / ts
        n = self.n * self.n
        order = rng.permutation(n).tolist()
        colour_of = {i: base_name for i in range(n)}
        for i in order[: self.n_accent]:
            colour_of[i] = accent_name
        bad_tiles: list[int] = []
        if logical == "extra_accent_tile":  # base tiles turned accent: 4 accents, sometimes 5
            bad_tiles = order[self.n_accent : self.n_accent + (1 if rng.uniform() < 0.6 else 2)]
            for i in bad_tiles:
                colour_of[i] = accent_name
        elif logical == "missing_accent_tile":
            bad_tiles = [order[0]]  # an accent tile turned base: mask = where the accent was
            colour_of[order[0]] = base_name
        elif logical == "wrong_colour_tile":  # one tile of the third colour, sometimes two
            bad_tiles = order[self.n_accent : self.n_accent + (1 if rng.uniform() < 0.6 else 2)]
            for i in bad_tiles:
                colour_of[i] = third
        comps: list[Component] = []
        masks: list[np.ndarray] = []
        grain = smooth_noise(rng, s, 24)
        for i in range(n):
            r, c = divmod(i, self.n)
            vertical = (r + c + parity) % 2 == 0
            g = 0.018 * s
            win = cv.window(c * ts - 1, r * ts - 1, (c + 1) * ts + 1, (r + 1) * ts + 1)
            alpha = win.box(c * ts + g / 2, r * ts + g / 2, (c + 1) * ts - g / 2, (r + 1) * ts - g / 2, 0.01 * s)
            coord = win.x if vertical else win.y
            stripes = np.sin(2 * math.pi * freq * coord + rng.uniform(0, 2 * math.pi))
            base = _jitter_colour(rng, TILE_COLOURS[colour_of[i]], 0.015)
            tex = base[None, None, :] * (1 + 0.09 * stripes + 0.03 * grain[win.box_slice])[..., None]
            comps.append(Component("tile", [Layer(alpha, np.clip(tex, 0, 1).astype(np.float32), win.box_slice)], {"colour": colour_of[i], "vertical": vertical}))
            if i in bad_tiles:
                masks.append(comps[-1].footprint(s))
        surface = np.zeros((s, s), bool)
        for comp in comps:
            surface |= comp.layers[0].full(s) > 0.5
        return Scene(bg, comps, {"surface": surface, "any": np.ones((s, s), bool)}), masks


# --------------------------------------------------------------------------------------
# Structural defects: applied to the rendered scene; mask = pixels the defect changed.
# --------------------------------------------------------------------------------------


def _pick_centre(rng: np.random.Generator, region: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(region)
    k = int(rng.integers(len(ys)))
    return float(xs[k]) + 0.5, float(ys[k]) + 0.5


def _contrast(rng: np.random.Generator) -> float:
    """Defect strength: ~15 % faint (8-15 %), the rest clearly visible (15-60 %)."""
    return float(rng.uniform(0.08, 0.15) if rng.uniform() < 0.15 else rng.uniform(0.15, 0.6))


#: contamination colours: dark dirt, soot, dust, light powder
_DIRT = ((0.25, 0.20, 0.15), (0.12, 0.12, 0.12), (0.55, 0.50, 0.40), (0.85, 0.85, 0.80))


def _jagged(rng: np.random.Generator, x: float, y: float, length: float, ang: float, n: int, *, both: bool = True) -> np.ndarray:
    """A crack's course: a random walk of `n` steps whose heading wanders around `ang`,
    from (x, y) in both directions (`both`) or only forwards (a branch)."""
    step = length / n
    sides = ((ang, n - n // 2), (ang + math.pi, n // 2)) if both else ((ang, n),)
    out = []
    for main, k in sides:
        pts, h, px, py = [], main, x, y
        for _ in range(k):
            h = main + 0.55 * (h - main) + float(rng.normal(0.0, 0.45))
            px, py = px + math.cos(h) * step, py + math.sin(h) * step
            pts.append((px, py))
        out.append(pts)
    path = out[1][::-1] + [(x, y)] + out[0] if both else [(x, y)] + out[0]
    return np.asarray(path, np.float32)


def structural_defect(
    rng: np.random.Generator, cv: Canvas, img: np.ndarray, style: str, region: np.ndarray, *, clip: bool = False, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one defect of `style` centred in `region` (and confined to it with `clip`);
    return (new image, exact mask).

    Sizes are fractions of the image side `s`; at 128 px (`scale` 1) a scratch is 2.8-4.9 px
    wide (tapering to 80 % at the ends) and 23-58 px long, a crack 3.2-5.4 px wide (each
    segment 75-100 % of that, branches thinner), contamination 3.8-10 px in radius, a stain
    7.7-18 px. `scale` multiplies lengths and radii, never a line's width."""
    s = cv.size
    for _ in range(50):
        cx, cy = _pick_centre(rng, region)
        c = _contrast(rng)
        if style == "scratch":
            length = rng.uniform(0.18, 0.45) * s * scale
            ang = rng.uniform(0, math.pi)
            p0 = np.array([cx - math.cos(ang) * length / 2, cy - math.sin(ang) * length / 2], np.float32)
            p2 = np.array([cx + math.cos(ang) * length / 2, cy + math.sin(ang) * length / 2], np.float32)
            pts = bezier(rng, p0, p2, 0.25, n=16)
            width = rng.uniform(0.022, 0.038) * s
            t = (np.arange(len(pts) - 1, dtype=np.float32) + 0.5) / (len(pts) - 1)
            widths = np.maximum(width * (0.8 + 0.2 * np.sin(np.pi * t)), 0.8)  # tapers at the ends
            # uneven depth along the line
            alpha = cv.polyline(pts, widths) * np.clip(0.85 + 0.3 * smooth_noise(rng, s, 16), 0.45, 1.0)
            # lighter or darker, mostly whichever stands out from the surface it crosses
            lum = float(img[alpha > 0.5].mean()) if (alpha > 0.5).any() else 0.5
            sign = 1.0 if rng.uniform() < 0.85 - 0.7 * lum else -1.0
            target = np.clip(img * (1 + sign * 2.0 * c) + sign * 0.5 * c, 0, 1)
        elif style == "crack":
            length = rng.uniform(0.18, 0.45) * s * scale
            ang = rng.uniform(0, 2 * math.pi)
            width = rng.uniform(0.025, 0.042) * s
            pts = _jagged(rng, cx, cy, length, ang, int(rng.integers(6, 12)))
            alpha = cv.polyline(pts, np.maximum(width * rng.uniform(0.75, 1.0, len(pts) - 1), 0.8))
            if rng.uniform() < 0.4:  # a branch off the main crack
                k = int(rng.integers(1, len(pts) - 1))
                turn = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.1)
                branch = _jagged(rng, float(pts[k, 0]), float(pts[k, 1]), length * rng.uniform(0.25, 0.5), ang + turn, 4, both=False)
                alpha = np.maximum(alpha, cv.polyline(branch, np.maximum(width * rng.uniform(0.6, 0.85, 4), 0.8)))
            target = np.clip(img * (1 - 2.0 * c) - 0.5 * c, 0, 1)
        elif style == "contamination":
            r = rng.uniform(0.03, 0.08) * s * scale
            harm = [(k, float(rng.uniform(0, 0.3)), float(rng.uniform(0, 2 * math.pi))) for k in (2, 3, 5)]
            alpha = cv.blob(cx, cy, r, harm)
            if rng.uniform() < 0.4:  # a few specks around the main particle
                for _ in range(int(rng.integers(1, 4))):
                    a, d = rng.uniform(0, 2 * math.pi), r * rng.uniform(1.3, 2.2)
                    alpha = np.maximum(alpha, cv.disc(cx + math.cos(a) * d, cy + math.sin(a) * d, max(r * rng.uniform(0.2, 0.4), 1.0)))
            alpha = alpha * rng.uniform(0.7, 1.0)
            # a dirt colour that differs from what it lies on (light dust is invisible on a light tray)
            local = img[alpha > 0.5].mean(axis=0) if (alpha > 0.5).any() else img[int(cy), int(cx)]
            dirts = [d for d in _DIRT if np.abs(np.asarray(d) - local).max() > 0.25] or list(_DIRT)
            dirt = np.asarray(dirts[int(rng.integers(len(dirts)))], np.float32)
            dirt = dirt[None, None, :] * (1 + 0.25 * smooth_noise(rng, s, 30))[..., None]
            # faint contamination: blend towards the dirt colour only partly
            target = img + (np.clip(dirt, 0, 1) - img) * min(1.0, 1.6 * c + 0.1)
        elif style in ("stain", "label_stain"):
            r = rng.uniform(0.06, 0.14) * s * scale
            harm = [(k, float(rng.uniform(0, 0.25)), float(rng.uniform(0, 2 * math.pi))) for k in (2, 3, 4)]
            alpha = cv.blob(cx, cy, r, harm, soft=float(rng.uniform(1.0, 4.0)))
            tint = np.asarray(rng.choice([(0.55, 0.40, 0.20), (0.35, 0.45, 0.30), (0.45, 0.45, 0.50)]), np.float32)
            target = img + (img * tint - img) * min(1.0, 1.5 * c)
        elif style == "dent":
            rx, ry = rng.uniform(0.05, 0.11) * s * scale, rng.uniform(0.03, 0.07) * s * scale
            ang = rng.uniform(0, math.pi)
            alpha = cv.ellipse(cx, cy, rx, ry, ang)
            u = ((cv.x - cx) * math.cos(ang + 0.8) + (cv.y - cy) * math.sin(ang + 0.8)) / rx
            shade = 1 + 3.0 * c * np.clip(u, -1, 1)
            target = np.clip(img * shade[..., None], 0, 1)
        elif style == "broken_pushpin":
            # a chipped head: a piece of the head is gone and the tray shows through; mostly
            # the broken-off pieces lie next to the pin
            r = 0.045 * s
            ang = rng.uniform(0, 2 * math.pi)
            off = r * rng.uniform(0.4, 0.9)
            ox, oy = cx + math.cos(ang) * off, cy + math.sin(ang) * off
            alpha = cv.disc(ox, oy, r * rng.uniform(0.8, 1.2)) * (region.astype(np.float32))
            if alpha.sum() < 0.4 * math.pi * (0.04 * s) ** 2:  # a chip of at least 40 % of a head
                continue
            target = np.broadcast_to(np.asarray((0.76, 0.76, 0.73), np.float32), img.shape) * (1 - 0.3 * c)
            near = region & (np.hypot(cv.x - cx, cv.y - cy) < r)
            head = np.median(img[near], axis=0) if near.any() else img[int(cy), int(cx)]
            n_pieces = int(rng.choice([0, 1, 1, 2, 2]))
            for _ in range(n_pieces):
                fa = ang + rng.uniform(-0.8, 0.8)
                fd = r * rng.uniform(1.7, 2.8)
                harm = [(k, float(rng.uniform(0, 0.25)), float(rng.uniform(0, 2 * math.pi))) for k in (2, 3)]
                fx, fy = cx + math.cos(fa) * fd, cy + math.sin(fa) * fd
                piece = cv.blob(fx, fy, r * rng.uniform(0.4, 0.7), harm)
                shade = 1 + 0.25 * np.clip(((cv.x - fx) + (cv.y - fy)) / (-2 * r), -1, 1)  # lit from the top left
                target = np.where((piece > alpha)[..., None], np.clip(head[None, None, :] * shade[..., None], 0, 1), target)
                alpha = np.maximum(alpha, piece)
        else:  # pragma: no cover - guarded by the category tables
            raise ValueError(f"unknown structural style {style}")
        if clip:
            alpha = alpha * region
        alpha = np.where(alpha < 0.05, 0.0, alpha).astype(np.float32)
        new = img * (1 - alpha[..., None]) + target * alpha[..., None]
        # exact mask: every pixel the defect altered by at least half a grey level
        mask = (alpha > 0) & (np.abs(new - img).max(axis=2) >= 0.5 / 255)
        if mask.sum() >= 4:
            new = np.where(mask[..., None], new, img)
            return new.astype(np.float32), mask
    raise RuntimeError(f"could not place a visible {style} defect")  # pragma: no cover


# --------------------------------------------------------------------------------------
# Categories: which scene, which defects, where structural defects go, sPRO thresholds.
# --------------------------------------------------------------------------------------

#: per category: (max camera shift as a fraction of the image, max rotation in degrees).
CAMERA_JITTER = {"pushpins": (0.01, 0.5), "screw_bag": (0.0, 0.0), "juice_bottle": (0.03, 1.5), "tiles": (0.03, 1.5)}

_SCENES = {"pushpins": Pushpins, "screw_bag": ScrewBag, "juice_bottle": JuiceBottle, "tiles": Tiles}

#: structural style → region name of the scene it is drawn in.
_REGIONS = {
    "pushpins": {"scratch": "surface", "contamination": "any", "broken_pushpin": "object"},
    "screw_bag": {"scratch": "any", "contamination": "any", "stain": "surface"},
    "juice_bottle": {"contamination": "liquid", "scratch": "glass", "label_stain": "label"},
    "tiles": {"crack": "surface", "stain": "surface", "dent": "surface"},
}
#: (category, style) drawn only inside its region: a particle in the juice, a scratch on the
#: glass, a stain on the label.
_CLIPPED = {("juice_bottle", "contamination"), ("juice_bottle", "scratch"), ("juice_bottle", "label_stain")}
#: structural defect size (length, radius; not a scratch's width) per category, relative to the
#: defaults of `structural_defect`: larger on the wide plain bag, smaller on the small bottle
#: and its label.
DEFECT_SCALE = {"pushpins": 1.0, "screw_bag": 1.25, "juice_bottle": 0.7, "tiles": 1.0}


def defects_config(category: str, image_size: int) -> list[dict]:
    """LOCO-format defect list: a logical defect saturates at the area of the component it
    concerns (absolute pixels at `image_size`, as LOCO does), a structural one at the whole
    defect (relative 1.0)."""
    cls = _SCENES[category]
    areas = cls(Canvas(8)).logical_areas(image_size)
    out = []
    value = 255
    for name in cls.logical:
        out.append(
            {
                "defect_name": name,
                "pixel_value": value,
                "saturation_threshold": int(round(areas[name])),
                "relative_saturation": False,
            }
        )
        value -= 1
    for name in cls.structural:
        out.append({"defect_name": name, "pixel_value": value, "saturation_threshold": 1.0, "relative_saturation": True})
        value -= 1
    return out


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


def _save(array: np.ndarray, path: Path) -> None:
    Image.fromarray(array).save(path, format="PNG", optimize=False, compress_level=6)


def _write_category(root: Path, category: str, image_size: int, seed: int, counts: dict[str, int]) -> None:
    config = defects_config(category, image_size)
    values = {d["defect_name"]: d["pixel_value"] for d in config}
    for split, folder in (("train", "train/good"), ("validation", "validation/good"), ("test_good", "test/good")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(counts[split]):
            img, _ = render_sample(category, split, i, image_size=image_size, seed=seed)
            _save(img, root / folder / f"{i:03d}.png")
    cls = _SCENES[category]
    for kind, names in (("logical_anomalies", cls.logical), ("structural_anomalies", cls.structural)):
        (root / "test" / kind).mkdir(parents=True, exist_ok=True)
        index = 0
        for name in names:
            for _ in range(counts["per_defect"]):
                img, defects = render_sample(category, kind, index, image_size=image_size, seed=seed, defect=name)
                _save(img, root / "test" / kind / f"{index:03d}.png")
                mask_dir = root / "ground_truth" / kind / f"{index:03d}"
                mask_dir.mkdir(parents=True, exist_ok=True)
                for j, (dname, m) in enumerate(defects):
                    _save((m.astype(np.uint8) * values[dname]).astype(np.uint8), mask_dir / f"{j:03d}.png")
                index += 1
    (root / "defects_config.json").write_text(json.dumps(config, indent=4) + "\n")


def synthesize(
    out: Path,
    *,
    categories: Sequence[str] | None = None,
    image_size: int = 128,
    seed: int = 0,
    counts: dict[str, int] | None = None,
) -> list[str]:
    """Write the built-in dataset under `out` in MVTec LOCO AD layout; return the categories.

    Per category: ``train/good``, ``validation/good``, ``test/good``,
    ``test/{logical,structural}_anomalies/NNN.png``, ``ground_truth/<kind>/NNN/MMM.png``
    (one mask per defect, pixel value = the defect's ``pixel_value``) and
    ``defects_config.json``. `counts` overrides ``DEFAULT_COUNTS`` (keys ``train``,
    ``validation``, ``test_good``, ``per_defect``). Each category is drawn into a temporary
    folder and renamed into place, so a crash never leaves half a category; an existing
    category folder is an error (nothing is overwritten).
    """
    out = Path(out)
    cats = list(categories) if categories else list(BUILTIN_CATEGORIES)
    unknown = [c for c in cats if c not in _SCENES]
    if unknown:
        raise DatasetError(f"unknown builtin categories {unknown}; choose from {', '.join(BUILTIN_CATEGORIES)}")
    if image_size < 32:
        raise DatasetError(f"builtin image_size {image_size} is too small to draw the scenes; use 32 or more")
    n = {**DEFAULT_COUNTS, **(counts or {})}
    bad = [k for k in n if k not in DEFAULT_COUNTS or int(n[k]) < 1]
    if bad:
        raise DatasetError(f"builtin counts {bad}: keys must be {sorted(DEFAULT_COUNTS)} with values >= 1")
    existing = [c for c in cats if (out / c).exists()]
    if existing:
        raise DatasetError(f"{out / existing[0]}: already exists; delete it or choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    for cat in cats:
        tmp = Path(tempfile.mkdtemp(prefix=f".{cat}-", dir=out))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the dataset is not
        try:
            _write_category(tmp, cat, image_size, seed, n)
            os.replace(tmp, out / cat)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return cats
