"""Structural defects: drawn onto the rendered scene; the mask is exactly the pixels the defect changed."""

from __future__ import annotations

import math

import numpy as np

from harness.data.builtin.draw import Canvas, bezier, smooth_noise


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
