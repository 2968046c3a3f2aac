"""The augmented training set on disk: MVTec-style folders plus a manifest with hashes.

Layout (under ``<run_dir>/augmented/<dataset>/<category>/<generator>/seed<k>-<fp>/``)::

    train/good/NNNN.png                  real normal training images, at the run's size
    train/<defect>/NNNN.png              generated anomalies
    ground_truth/<defect>/NNNN_mask.png  their exact masks (0/255)
    grid.png                             image | mask | overlay, pairs taken in turn from each defect type
    grid_<defect>.png                    the same for one defect type (generators that condition on it)
    manifest.json                        every file with its sha256, what the generator saw

The set is written into a hidden ``.<name>.partial`` folder beside its target and renamed
onto it once the manifest (written last) is in: a crash, a kill or a full disk leaves no
half set under the target's name (the partial folder is removed on error, or by the next
attempt), and a re-run reuses a complete set instead of fitting the generator again.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence, TypeVar

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from harness.fsio import fault_kind, output_error, write_json_atomic
from harness.core.detector import TrainSet
from harness.core.generator import AnomalyPair
from harness.data.io import file_sha256, save_png

MANIFEST = "manifest.json"


def folder_name(defect_type: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", defect_type) or "anomaly"


@dataclass(frozen=True)
class AugmentedSet:
    root: Path
    manifest: dict[str, Any]

    @property
    def grid_files(self) -> list[Path]:
        return sorted(self.root.glob("grid*.png"))

    @property
    def n_generated(self) -> int:
        return len(self.manifest["generated"])

    def train_set(self, validation_normal: Sequence[Path] = (), validation: "pd.DataFrame | None" = None,
                  n: int | None = None) -> TrainSet:
        """The detector's training set; with `n`, only `n` generated pairs (`stratified_first`)."""
        gen = self.manifest["generated"] if n is None else stratified_first(self.manifest["generated"], n)
        return TrainSet(
            normal=[self.root / r["image"] for r in self.manifest["normal"]],
            anomalous=[(self.root / r["image"], self.root / r["mask"]) for r in gen],
            anomalous_defect_types=[r["defect_type"] for r in gen],
            validation_normal=list(validation_normal),
            validation=validation,
        )

    def pairs(self) -> list[AnomalyPair]:
        from harness.data.io import load_image, load_mask

        return [
            AnomalyPair(load_image(self.root / r["image"]), load_mask([self.root / r["mask"]]), r["defect_type"])
            for r in self.manifest["generated"]
        ]


T = TypeVar("T")


def by_defect_type(items: Iterable[T], type_of: Callable[[T], str]) -> dict[str, list[T]]:
    """Items grouped by defect type, types in order of first appearance, order kept within each."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(type_of(item), []).append(item)
    return groups


def in_turn(groups: dict[str, list[T]], n: int) -> list[T]:
    """The first `n` items taken in turn from each group (a mixed sample grid, the ratio axis)."""
    depth = max((len(g) for g in groups.values()), default=0)
    return [g[i] for i in range(depth) for g in groups.values() if i < len(g)][:n]


def stratified_first(generated: list[dict], n: int) -> list[dict]:
    """The first `n` pairs taken in turn from each defect type (in manifest order), so a smaller
    count is a subset of every larger one and keeps the types' balance: the ratio axis compares
    nested sets from one generator fit."""
    return in_turn(by_defect_type(generated, lambda r: r["defect_type"]), n)


def load_augmented(root: Path) -> AugmentedSet | None:
    """The complete set at `root`, or None when absent or unfinished."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    return AugmentedSet(root, json.loads(path.read_text()))


def verified_augmented(root: Path) -> tuple[AugmentedSet | None, str | None]:
    """(the complete set at `root` whose files all match their manifest hashes, or None;
    why a set that is there cannot be reused, or None).

    A set is reused by every later cell and re-run: a file replaced or edited since it was
    written would train the detector on something no generator made, silently."""
    path = root / MANIFEST
    if not path.is_file():
        return None, None
    try:
        manifest = json.loads(path.read_text())
        files = [(r["image"], r["sha256"]) for r in manifest["normal"]]
        files += [(r[f], r[h]) for r in manifest["generated"] for f, h in (("image", "sha256"), ("mask", "mask_sha256"))]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        return None, f"{path}: unreadable manifest ({type(exc).__name__}: {exc}); regenerating the set"
    for rel, digest in files:
        f = root / rel
        if not f.is_file():
            return None, f"{f}: missing from the augmented set; regenerating the set"
        if file_sha256(f) != digest:
            return None, f"{f}: does not match the augmented set's manifest (changed since it was written); regenerating the set"
    return AugmentedSet(root, manifest), None


def write_augmented(
    root: Path,
    *,
    normal_images: Sequence[np.ndarray],
    normal_sources: Sequence[str],
    pairs: Sequence[AnomalyPair],
    generator_train_sources: Sequence[str],
    info: dict[str, Any],
    grids: dict[str, np.ndarray] | None = None,
) -> AugmentedSet:
    """Write the set from scratch into a partial folder, then rename it onto `root`."""
    final = root
    if final.name in ("", ".", ".."):
        raise ValueError(f"{final}: an augmented set's folder must be a plain folder name under the run folder")
    root = final.parent / f".{final.name}.partial"
    need = sum(a.nbytes for a in normal_images) + sum(p.image.nbytes + p.mask.size for p in pairs)
    try:
        if root.exists():  # an earlier attempt that was killed
            shutil.rmtree(root)
        root.mkdir(parents=True)
        manifest = _write_files(root, normal_images, normal_sources, pairs, generator_train_sources, info, grids)
        if final.exists():  # an unfinished set of an older version (no manifest: load_augmented found none)
            shutil.rmtree(final)
        root.rename(final)
    except BaseException as exc:
        shutil.rmtree(root, ignore_errors=True)
        kind = fault_kind(exc) if isinstance(exc, OSError) else None
        if kind:  # one line naming the folder and the set's size, not the temp file that hit the fault
            raise output_error(final.parent, kind, f"the augmented set {final.name}", need) from None
        raise
    return AugmentedSet(final, manifest)


def _write_files(root: Path, normal_images: Sequence[np.ndarray], normal_sources: Sequence[str],
                 pairs: Sequence[AnomalyPair], generator_train_sources: Sequence[str], info: dict[str, Any],
                 grids: dict[str, np.ndarray] | None) -> dict[str, Any]:
    normal = []
    for i, (img, src) in enumerate(zip(normal_images, normal_sources)):
        rel = f"train/good/{i:04d}.png"
        save_png(img, root / rel)
        normal.append({"image": rel, "sha256": file_sha256(root / rel), "source": src,
                       "source_sha256": file_sha256(src)})
    generated = []
    for i, pair in enumerate(pairs):
        d = folder_name(pair.defect_type)
        img_rel, mask_rel = f"train/{d}/{i:04d}.png", f"ground_truth/{d}/{i:04d}_mask.png"
        save_png(pair.image, root / img_rel)
        save_png(pair.mask, root / mask_rel)
        generated.append({"image": img_rel, "mask": mask_rel, "defect_type": pair.defect_type,
                          "sha256": file_sha256(root / img_rel), "mask_sha256": file_sha256(root / mask_rel)})
    for name, picture in (grids or {}).items():
        save_png(picture, root / f"{name}.png")
    manifest = {
        **info,
        "normal": normal,
        "generated": generated,
        "generator_train": [{"source": s, "source_sha256": file_sha256(s)} for s in generator_train_sources],
    }
    write_json_atomic(root / MANIFEST, manifest)
    return manifest
