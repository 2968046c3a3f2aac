"""Leakage by duplicate files: the same picture under train and test, or under good and a defect.

A test/good image byte-identical to a train/good one is scored on what the detector trained on;
a defect image also filed under train/good teaches the detector that the defect is normal. Both
inflate or deflate every number silently. Duplicates are found by content hash (sha256 of the
bytes) and, for resized copies, by a perceptual hash (dHash, 64 bits) between images of different
pixel sizes and the same aspect ratio (same-size near matches are left alone: real normal images can look alike). A group
of duplicates that spans splits or labels is refused, naming the files, unless the dataset says
``duplicates: drop``: then the normal copies of a defect image are dropped, and of the rest only
the copies in the first split (train, then validation, then test) are kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

_SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}


def dhash(img: Image.Image) -> str:
    """64-bit difference hash of the image's gray levels (16 hex digits)."""
    small = np.asarray(img.convert("L").resize((9, 8), Image.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def leaking_groups(table: pd.DataFrame, content: dict[str, str], perceptual: dict[str, tuple[str, tuple[int, int]]]
                   ) -> list[list[int]]:
    """Groups of row indices holding one picture across splits or labels."""
    parent = {i: i for i in table.index}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    by_hash: dict[str, int] = {}
    by_size: dict[tuple[int, int], list[tuple[int, int]]] = {}  # pixel size → [(row, dHash)]
    for i, path in zip(table.index, table["image_path"]):
        h = content[str(path)]
        if h in by_hash:
            union(i, by_hash[h])
        else:
            by_hash[h] = i
        ph = perceptual.get(str(path))
        if ph:
            by_size.setdefault(ph[1], []).append((i, int(ph[0], 16)))
    sizes = sorted(by_size)
    for k, a in enumerate(sizes):  # resized copies: a near-equal dHash at another pixel size, the same shape
        for b in sizes[k + 1:]:
            if abs(a[0] / a[1] - b[0] / b[1]) > 0.02 * (a[0] / a[1]):
                continue
            for i, j in _near(by_size[a], by_size[b]):
                union(i, j)
    groups: dict[int, list[int]] = {}
    for i in table.index:
        groups.setdefault(find(i), []).append(i)
    out = []
    for rows in groups.values():
        part = table.loc[rows]
        if len(rows) > 1 and (part["split"].nunique() > 1 or part["label"].nunique() > 1):
            out.append(sorted(rows))
    return out


#: dHash bits two copies of one picture at different sizes may differ by (resampling); unrelated
#: pictures differ by ~32 (the built-in test images: ≥ 13)
NEAR_BITS = 4


def _near(xs: list[tuple[int, int]], ys: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Pairs (row of xs, row of ys) whose dHashes differ by at most NEAR_BITS bits (vectorised, in chunks)."""
    hx = np.array([h for _, h in xs], dtype=np.uint64)
    hy = np.array([h for _, h in ys], dtype=np.uint64)
    out = []
    for start in range(0, len(hx), 256):
        diff = hx[start:start + 256, None] ^ hy[None, :]
        bits = np.unpackbits(diff.view(np.uint8).reshape(*diff.shape, 8), axis=-1).sum(axis=-1)
        for a, b in zip(*np.nonzero(bits <= NEAR_BITS)):
            out.append((xs[start + a][0], ys[b][0]))
    return out


def describe(table: pd.DataFrame, rows: list[int]) -> str:
    return " = ".join(f"{table.at[i, 'image_path']} ({table.at[i, 'split']}/"
                      f"{'good' if table.at[i, 'label'] == 0 else table.at[i, 'defect_type']})" for i in rows)


def rows_to_drop(table: pd.DataFrame, group: list[int]) -> list[int]:
    """Of one leaking group: its normal rows if it holds a defect image, then every copy outside the first split."""
    part = table.loc[group]
    drop = list(part.index[part["label"] == 0]) if (part["label"] == 1).any() else []
    rest = part.drop(index=drop)
    first = min(rest["split"], key=lambda s: _SPLIT_ORDER.get(s, 3))
    drop += list(rest.index[rest["split"] != first])
    return drop
