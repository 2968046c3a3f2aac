"""``screw_bag``: one long screw, one short screw, two nuts, two washers, scattered in a bag."""

from __future__ import annotations

import math

import numpy as np

from harness.data.builtin.draw import Canvas, _jitter_colour, _shade, over, smooth_noise
from harness.data.builtin.scene import Component, Layer, Scene


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
