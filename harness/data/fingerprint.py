"""Every image and mask decoded once before a run, and the data's fingerprint for cell identity.

Header checks miss a PNG cut short after its header: it failed later, in every cell, as
``OSError: image file is truncated`` with no path. So each file is decoded fully here, in
parallel threads (PIL releases the GIL while decoding), through the same conversion the
run uses (`harness.data.io`), so a truncated file or an image mode we cannot read is one
`DatasetError` naming the file before anything runs. The result per file — its sha256
and, for masks, whether any pixel is set — is cached by (path, size, mtime) in
``<cache>/file-checks/``, so a second run of a big dataset reads no image again.

The fingerprint covers the file list and every file's content (sha256), so adding,
removing or fixing an image changes the cell keys of exactly that (dataset, category):
those cells re-run and the others resume.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from harness.data.table import DatasetError, check_table

log = logging.getLogger("harness.data")

#: bump when what is cached per file changes
_CACHE_VERSION = 1


@dataclass(frozen=True)
class FileCheck:
    sha256: str
    any_set: bool  # masks: a pixel is > 0; images: always True


def _cache_file(paths: list[str]) -> Path | None:
    from harness.data.adapters.builtin import cache_root

    if not paths:
        return None
    common = os.path.commonpath(paths)
    return cache_root() / "file-checks" / f"{hashlib.sha256(common.encode()).hexdigest()[:16]}.json"


def _stat_key(path: str) -> str:
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def _check(path: str, is_mask: bool) -> FileCheck:
    """Read the file once: hash its bytes and decode every pixel as the run will."""
    from harness.data.io import mask_array, to_rgb

    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{p}: file not found; check the dataset root") from None
    except OSError as exc:
        raise DatasetError(f"{p}: cannot read ({exc.strerror or exc.__class__.__name__}); check its permissions") from None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if is_mask:
                any_set = bool(mask_array(img, p).any())
            else:
                to_rgb(img, p)
                any_set = True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        why = "truncated" if "truncated" in str(exc) else exc.__class__.__name__
        raise DatasetError(f"{p}: unreadable image ({why}); replace or remove the file") from None
    return FileCheck(hashlib.sha256(data).hexdigest(), any_set)


def check_files_deep(table: pd.DataFrame, *, workers: int | None = None) -> dict[str, FileCheck]:
    """Decode every image and mask of `table` (cached by size + mtime); path → its check."""
    jobs: dict[str, bool] = {}
    for image, masks in zip(table["image_path"], table["mask_paths"]):
        jobs.setdefault(str(image), False)
        for m in masks:
            jobs[str(m)] = True
    paths = sorted(jobs)
    cache_path = _cache_file(paths)
    cached: dict = {}
    if cache_path is not None and cache_path.is_file():
        try:
            raw = json.loads(cache_path.read_text())
            cached = raw.get("files", {}) if raw.get("version") == _CACHE_VERSION else {}
        except (OSError, ValueError):
            cached = {}
    results: dict[str, FileCheck] = {}
    todo: list[str] = []
    stats: dict[str, str] = {}
    for p in paths:
        try:
            stats[p] = _stat_key(p)
        except FileNotFoundError:
            raise DatasetError(f"{p}: file not found; check the dataset root") from None
        hit = cached.get(p)
        if hit and hit.get("stat") == stats[p] and hit.get("mask") == jobs[p]:
            results[p] = FileCheck(hit["sha256"], hit["any_set"])
        else:
            todo.append(p)
    if todo:
        workers = workers or min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # map keeps the order, so the first bad file by name is the one reported
            for p, res in zip(todo, pool.map(lambda q: _check(q, jobs[q]), todo)):
                results[p] = res
        if cache_path is not None:
            from harness.fsio import write_json_atomic

            entries = {**cached, **{p: {"stat": stats[p], "mask": jobs[p], "sha256": r.sha256, "any_set": r.any_set}
                                    for p, r in results.items()}}
            try:
                write_json_atomic(cache_path, {"version": _CACHE_VERSION, "files": entries})
            except OSError:  # a cache only: a read-only or full cache folder costs time, not correctness
                pass
    return results


def verify_table(table: pd.DataFrame, source: str, *, empty_masks: str = "error") -> tuple[pd.DataFrame, str]:
    """Decode every file, refuse (or, with ``empty_masks: drop``, drop) anomalous images whose masks
    are all zero, and return the table with its data fingerprint."""
    checks = check_files_deep(table)
    anomalous = table["label"] == 1
    empty = [i for i in table.index[anomalous] if not any(checks[str(m)].any_set for m in table.at[i, "mask_paths"])]
    if empty:
        first = table.at[empty[0], "image_path"]
        masks = ", ".join(table.at[empty[0], "mask_paths"])
        if empty_masks != "drop":
            more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
            raise DatasetError(
                f"{masks}: the mask of anomalous image {first} is empty{more}; draw its defect in the mask, remove "
                "the image, or set `empty_masks: drop` on the dataset to leave such images out")
        log.warning("warning: %s: dropped %d anomalous image(s) whose mask is empty (first: %s; empty_masks: drop)",
                    source, len(empty), first)
        table = table.drop(index=empty).reset_index(drop=True)
        check_table(table, source)
    return table, data_fingerprint(table, checks)


def data_fingerprint(table: pd.DataFrame, checks: dict[str, FileCheck]) -> str:
    """Short hash of the file list and every file's content, in table order (rows sorted by path)."""
    h = hashlib.sha256()
    for row in table[["image_path", "mask_paths", "label", "defect_type", "split"]].itertuples(index=False):
        h.update(json.dumps([row.image_path, checks[str(row.image_path)].sha256, int(row.label), row.defect_type,
                             row.split, [[m, checks[str(m)].sha256] for m in row.mask_paths]]).encode())
    return h.hexdigest()[:16]

