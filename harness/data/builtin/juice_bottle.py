"""``juice_bottle``: a bottle whose juice colour matches the fruit icon on its centred label."""

from __future__ import annotations

import math

import numpy as np

from harness.data.builtin.draw import Canvas, _jitter_colour, smooth_noise
from harness.data.builtin.scene import Component, Layer, Scene

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
