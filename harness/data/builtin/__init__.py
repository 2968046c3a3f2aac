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

Modules (one job each): `draw` (Canvas and the drawing primitives), `scene` (layers,
components, scenes), one per category (`pushpins`, `screw_bag`, `juice_bottle`, `tiles`),
`defects` (structural defects), `categories` (the per-category tables), `render` (one image
and its masks), `writer` (the dataset on disk). Every public name is importable from here.
"""

# ruff: noqa: F401 - this module re-exports the package's names (public and the old module's private ones)
from __future__ import annotations

from harness.data.builtin.categories import (
    _CLIPPED,
    _REGIONS,
    _SCENES,
    BUILTIN_CATEGORIES,
    BUILTIN_VERSION,
    CAMERA_JITTER,
    DEFECT_SCALE,
    defects_config,
)
from harness.data.builtin.defects import _DIRT, _contrast, _jagged, _pick_centre, structural_defect
from harness.data.builtin.draw import Canvas, _jitter_colour, _shade, bezier, over, smooth_noise
from harness.data.builtin.juice_bottle import FRUITS, JuiceBottle
from harness.data.builtin.pushpins import PIN_COLOURS, Pushpins
from harness.data.builtin.render import _SPLIT_IDS, _finish, _rng, render_sample
from harness.data.builtin.scene import Component, DefectSpec, Layer, Scene
from harness.data.builtin.screw_bag import ScrewBag
from harness.data.builtin.tiles import TILE_COLOURS, Tiles
from harness.data.builtin.writer import DEFAULT_COUNTS, _save, _write_category, synthesize

