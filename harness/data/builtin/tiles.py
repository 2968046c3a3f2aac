"""``tiles``: a 4x4 tiled surface with exactly three accent-coloured tiles at random places."""

from __future__ import annotations

import math

import numpy as np

from harness.data.builtin.draw import Canvas, _jitter_colour, smooth_noise
from harness.data.builtin.scene import Component, Layer, Scene

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
