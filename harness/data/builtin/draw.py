"""Drawing primitives of the built-in scenes: anti-aliased coverage maps (float32 HxW in [0, 1])
from signed distances on a `Canvas`, smooth noise, compositing and colour helpers."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


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


def _shade(rgb: Sequence[float], k: float) -> np.ndarray:
    return np.clip(np.asarray(rgb, dtype=np.float32) * k, 0, 1)


def _jitter_colour(rng: np.random.Generator, rgb: Sequence[float], amount: float = 0.03) -> np.ndarray:
    return np.clip(np.asarray(rgb, dtype=np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32), 0, 1)

