"""The category tables: which scene, which defects, where structural defects go, sPRO thresholds."""

from __future__ import annotations

from harness.data.builtin.draw import Canvas
from harness.data.builtin.juice_bottle import JuiceBottle
from harness.data.builtin.pushpins import Pushpins
from harness.data.builtin.screw_bag import ScrewBag
from harness.data.builtin.tiles import Tiles

BUILTIN_CATEGORIES: tuple[str, ...] = ("pushpins", "screw_bag", "juice_bottle", "tiles")
#: Bump when drawing changes, so caches keyed on it are rebuilt.
BUILTIN_VERSION = 6

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
