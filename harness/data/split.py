"""The few-shot split of the anomaly-generation papers, without test leakage.

Protocol (AnomalyDiffusion, DFMGAN, ...): per defect type, a seeded fraction (1/3) of the
real anomalous test images is given to the generator ("generator_train"); the rest, with
every normal test image, is the test set. Unlike AnomalyDiffusion's reference code, no
image is in both: a defect type needs at least 2 images (1 to learn from, 1 to test on),
and byte-identical files are kept on the same side, so generator_train and test are
disjoint by file hash, not only by path.

Roles: normal ``train`` images → ``detector_train``; ``validation`` → ``validation``;
anomalies → ``generator_train`` or ``test``; normal ``test`` images → ``test``.

The validation fold (for choosing a detector's budget and early stopping, never test):
with ``validation_fraction`` > 0, that fraction of each defect type's generator-train
images is moved to ``validation`` (at least one stays with the generator), so no
generator sees them and no detector trains on them; with ``validation_normal_fraction``
> 0 and a dataset without validation normals (MVTec AD), that fraction of the normal
train images becomes ``validation`` too. Test is untouched by either.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from harness.data.io import file_sha256
from harness.data.table import ROLES, DatasetError
from harness.fsio import write_text_atomic

SPLIT_FORMAT_VERSION = 1


def _rng(seed: int, category: str, defect_type: str) -> np.random.Generator:
    # per (category, defect type): adding a defect type does not reshuffle the others
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(category.encode()), zlib.crc32(defect_type.encode())]))


def _carve(rng: np.random.Generator, n: int, fraction: float, keep: int) -> set[int]:
    """Indices of round(fraction * n) of n items (at most n - keep), chosen by `rng`."""
    v = min(round(fraction * n), n - keep)
    return set(rng.choice(n, size=v, replace=False).tolist()) if v > 0 else set()


def few_shot_split(table: pd.DataFrame, *, fraction: float = 1 / 3, seed: int, validation_fraction: float = 0.0,
                   validation_normal_fraction: float = 0.0) -> pd.DataFrame:
    """A copy of `table` with a ``role`` column (see module docstring).

    Per defect type with n images, ``k = clamp(round(fraction * n), 1, n - 1)`` go to
    ``generator_train``, chosen by `seed` among the images sorted by path; then
    ``min(round(validation_fraction * k), k - 1)`` of those move to ``validation``.
    """
    if not 0.0 < fraction < 1.0:
        raise DatasetError(f"few-shot fraction {fraction} is out of range; use a value in (0, 1), e.g. 1/3")
    for name, value in (("validation_fraction", validation_fraction), ("validation_normal_fraction", validation_normal_fraction)):
        if not 0.0 <= value < 1.0:
            raise DatasetError(f"split {name} {value} is out of range; use a value in [0, 1), e.g. 0.3333 (0 = no fold)")
    out = table.copy().reset_index(drop=True)
    role = pd.Series("", index=out.index, dtype=object)
    normal = out["label"] == 0
    role[normal & (out["split"] == "train")] = "detector_train"
    role[normal & (out["split"] == "validation")] = "validation"
    role[normal & (out["split"] == "test")] = "test"
    anomalous = out[out["label"] == 1]
    digests = {i: file_sha256(p) for i, p in anomalous["image_path"].items()}
    category = ",".join(sorted(out["category"].astype(str).unique()))
    settled: dict[str, str] = {}  # file hash → role, so a copy filed under two defect types gets one role
    for (cat, defect), group in anomalous.groupby(["category", "defect_type"], sort=True):
        # images with the same bytes form one unit, so a duplicate cannot straddle the split
        units: dict[str, list[int]] = {}
        for i in group.sort_values("image_path").index:
            units.setdefault(digests[i], []).append(i)
        keys = list(units)
        if len(keys) < 2:
            raise DatasetError(
                f"{group['image_path'].iloc[0]}: defect type '{defect}' has {len(keys)} distinct anomalous image(s); "
                "the few-shot split needs at least 2 (1 for the generator, 1 for the test set): add images or drop the type"
            )
        k = min(max(round(fraction * len(keys)), 1), len(keys) - 1)
        chosen = set(_rng(seed, str(cat), str(defect)).choice(len(keys), size=k, replace=False).tolist())
        # the validation fold comes out of the generator's share (its own stream: test is unchanged)
        ordered = [j for j in range(len(keys)) if j in chosen]
        vrng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(str(cat).encode()),
                                                             zlib.crc32(str(defect).encode()), 1]))
        held = {ordered[j] for j in _carve(vrng, len(ordered), validation_fraction, keep=1)}
        for j, key in enumerate(keys):
            r = settled.setdefault(key, ("validation" if j in held else "generator_train") if j in chosen else "test")
            for i in units[key]:
                role[i] = r
    if validation_normal_fraction > 0 and not (normal & (out["split"] == "validation")).any():
        normal_units: dict[str, list[int]] = {}  # byte-identical normals move together
        for i in out[normal & (out["split"] == "train")].sort_values("image_path").index:
            normal_units.setdefault(file_sha256(out.at[i, "image_path"]), []).append(i)
        groups = list(normal_units.values())
        nrng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(category.encode()), 2]))
        for j in _carve(nrng, len(groups), validation_normal_fraction, keep=1):
            for i in groups[j]:
                role[i] = "validation"
    # a normal image byte-identical to a generator_train anomaly cannot be a test image either
    leaked = {digests[i] for i in role.index[(role == "generator_train") | ((role == "validation") & ~normal)]}
    if leaked:
        for i in role.index[(role == "test") & normal]:
            if file_sha256(out.at[i, "image_path"]) in leaked:
                raise DatasetError(
                    f"{out.at[i, 'image_path']}: normal test image is byte-identical to an anomalous image; remove the duplicate"
                )
    unassigned = role == ""
    if unassigned.any():
        raise DatasetError(f"{out.loc[unassigned, 'image_path'].iloc[0]}: normal image in unknown split '{out.loc[unassigned, 'split'].iloc[0]}'; use train, validation or test")
    out["role"] = role
    for needed in ("detector_train", "generator_train", "test"):
        if not (out["role"] == needed).any():
            raise DatasetError(f"category '{category}': the few-shot split left role '{needed}' empty; check the dataset has normal train images and anomalous test images")
    return out


def rows_for(table: pd.DataFrame, role: str) -> pd.DataFrame:
    """The rows of one role (index reset), e.g. ``rows_for(split, "test")``."""
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}'; choose from {', '.join(ROLES)}")
    if "role" not in table.columns:
        raise ValueError("table has no 'role' column; call few_shot_split first")
    return table[table["role"] == role].reset_index(drop=True)


def write_split(table: pd.DataFrame, path: Path) -> None:
    """Record the split as JSON (path, role, defect type, sha256 per row), written atomically."""
    if "role" not in table.columns:
        raise ValueError("table has no 'role' column; call few_shot_split first")
    rows = [
        {
            "image_path": str(r.image_path),
            "role": str(r.role),
            "defect_type": str(r.defect_type),
            "label": int(r.label),
            "category": str(r.category),
            "sha256": file_sha256(r.image_path),
        }
        for r in table.itertuples(index=False)
    ]
    payload = {"version": SPLIT_FORMAT_VERSION, "rows": rows}
    write_text_atomic(Path(path), json.dumps(payload, indent=1) + "\n", what="the split file")


def read_split(path: Path) -> pd.DataFrame:
    """The rows `write_split` wrote (columns image_path, role, defect_type, label, category, sha256)."""
    try:
        payload = json.loads(Path(path).read_text())
        return pd.DataFrame(payload["rows"])
    except FileNotFoundError:
        raise DatasetError(f"{path}: split file not found; run the split first") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: malformed split file ({exc.__class__.__name__}); delete it and re-run the split") from None
