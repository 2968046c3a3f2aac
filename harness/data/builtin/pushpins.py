"""``pushpins``: a 3x6 tray holding exactly 15 pins, one colour per image."""

from __future__ import annotations

import math

import numpy as np

from harness.data.builtin.draw import Canvas, _jitter_colour, _shade, over, smooth_noise
from harness.data.builtin.scene import Component, Layer, Scene

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
