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

from harness.core.io import oriented
from harness.data.cache import cache_root
from harness.data.table import DatasetError, check_table

log = logging.getLogger("harness.data")

#: bump when what is cached per file changes
_CACHE_VERSION = 2


@dataclass(frozen=True)
class FileCheck:
    sha256: str
    any_set: bool  # masks: a pixel is > 0; images: always True
    top: int = 0  # masks: the largest value
    nonbinary: int = 0  # masks: pixels neither 0 nor `top` (harness.data.masks)
    example: int = -1  # masks: one such value
    dhash: str = ""  # images: perceptual hash (harness.data.duplicates)
    width: int = 0
    height: int = 0

    def to_cache(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _cache_file(paths: list[str]) -> Path | None:
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
    from harness.data.duplicates import dhash
    from harness.data.masks import mask_values, nonbinary

    extra: dict = {}
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            img = oriented(img)
            extra.update(width=img.size[0], height=img.size[1])
            if is_mask:
                any_set = bool(mask_array(img, p).any())
                n, top, example = nonbinary(mask_values(img, p))
                extra.update(nonbinary=n, top=top, example=example)
            else:
                extra["dhash"] = dhash(to_rgb(img, p))
                any_set = True
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{p}: image too large to decode safely ({exc}); downscale the file, or raise "
                           "PIL.Image.MAX_IMAGE_PIXELS if you trust it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        why = "truncated" if "truncated" in str(exc) else exc.__class__.__name__
        raise DatasetError(f"{p}: unreadable image ({why}); replace or remove the file") from None
    return FileCheck(hashlib.sha256(data).hexdigest(), any_set, **extra)


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
            results[p] = FileCheck(**{k: hit[k] for k in FileCheck.__dataclass_fields__ if k in hit})
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

            entries = {**cached, **{p: {"stat": stats[p], "mask": jobs[p], **r.to_cache()}
                                    for p, r in results.items()}}
            try:
                write_json_atomic(cache_path, {"version": _CACHE_VERSION, "files": entries})
            except OSError:  # a cache only: a read-only or full cache folder costs time, not correctness
                pass
    return results


def verify_table(table: pd.DataFrame, source: str, *, empty_masks: str = "error", mask_threshold: int | None = None,
                 duplicates: str = "refuse") -> tuple[pd.DataFrame, str]:
    """Decode every file; refuse masks that are not binary (or binarise them at `mask_threshold`),
    duplicate pictures across splits or labels (or drop them), anomalous images whose masks are
    all zero (or drop them); return the table with its data fingerprint."""
    checks = check_files_deep(table)
    _flag_odd_sizes(table, checks, source)
    table = _check_masks(table, checks, source, mask_threshold)
    table = _check_duplicates(table, checks, source, duplicates)
    anomalous = table["label"] == 1
    on = (lambda c: c.any_set) if mask_threshold is None else (lambda c: c.top > mask_threshold)
    empty = [i for i in table.index[anomalous] if not any(on(checks[str(m)]) for m in table.at[i, "mask_paths"])]
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
    fp = data_fingerprint(table, checks, mask_threshold)
    if mask_threshold is not None:  # the run reads 0/255 copies: every `> 0` reader downstream agrees
        from harness.data.masks import binarised_copy

        table = table.copy()
        table["mask_paths"] = [[binarised_copy(m, checks[str(m)].sha256, mask_threshold, cache_root()) for m in ms]
                               for ms in table["mask_paths"]]
    return table, fp


def _flag_odd_sizes(table: pd.DataFrame, checks: dict[str, FileCheck], source: str) -> None:
    """Warn about images more than twice as large or small as the category's median (a stray file, a crop)."""
    sizes = [(str(p), checks[str(p)].width, checks[str(p)].height) for p in table["image_path"]]
    sizes = [s for s in sizes if s[1] and s[2]]
    if len(sizes) < 3:
        return
    mw = sorted(w for _, w, _ in sizes)[len(sizes) // 2]
    mh = sorted(h for _, _, h in sizes)[len(sizes) // 2]
    odd = [(p, w, h) for p, w, h in sizes if not (0.5 <= w / mw <= 2 and 0.5 <= h / mh <= 2)]
    if odd:
        p, w, h = odd[0]
        log.warning("warning: %s: %d image(s) far off the category's size %dx%d (first: %s, %dx%d); check they "
                    "belong here", source, len(odd), mw, mh, p, w, h)


def _check_masks(table: pd.DataFrame, checks: dict[str, FileCheck], source: str, threshold: int | None) -> pd.DataFrame:
    from harness.data.masks import LOSSY_SUFFIXES, refusal

    masks = sorted({str(m) for ms in table["mask_paths"] for m in ms})
    lossy = [m for m in masks if Path(m).suffix.lower() in LOSSY_SUFFIXES]
    if lossy:
        log.warning("warning: %s: %d mask(s) in a lossy format (first: %s): compression changes pixel values; "
                    "export masks as PNG", source, len(lossy), lossy[0])
    odd = [m for m in masks if checks[m].nonbinary]
    if odd and threshold is None:
        c = checks[odd[0]]
        more = f" ({len(odd) - 1} more mask(s) too)" if len(odd) > 1 else ""
        raise DatasetError(refusal(odd[0], c.nonbinary, c.top, c.example) + more)
    if odd:
        log.warning("warning: %s: mask_threshold %d: %d mask(s) with %d non-binary pixel(s) binarised as > %d "
                    "(first: %s)", source, threshold, len(odd), sum(checks[m].nonbinary for m in odd), threshold, odd[0])
    return table


def _check_duplicates(table: pd.DataFrame, checks: dict[str, FileCheck], source: str, policy: str) -> pd.DataFrame:
    from harness.data.duplicates import describe, leaking_groups, rows_to_drop

    content = {str(p): checks[str(p)].sha256 for p in table["image_path"]}
    perceptual = {str(p): (checks[str(p)].dhash, (checks[str(p)].width, checks[str(p)].height))
                  for p in table["image_path"] if checks[str(p)].dhash}
    groups = leaking_groups(table, content, perceptual)
    if not groups:
        return table
    if policy != "drop":
        more = f" (and {len(groups) - 1} more group(s))" if len(groups) > 1 else ""
        raise DatasetError(f"{source}: the same picture in two places: {describe(table, groups[0])}{more}; it leaks "
                           "between train and test or good and defect. Remove the copies, or set `duplicates: drop` "
                           "on the dataset")
    drop = sorted({i for g in groups for i in rows_to_drop(table, g)})
    log.warning("warning: %s: duplicates: drop: dropped %d copy(ies) of %d duplicated picture(s) (first: %s)",
                source, len(drop), len(groups), table.at[drop[0], "image_path"])
    table = table.drop(index=drop).reset_index(drop=True)
    check_table(table, source)
    return table


def data_fingerprint(table: pd.DataFrame, checks: dict[str, FileCheck], mask_threshold: int | None = None) -> str:
    """Short hash of the file list and every file's content, in table order (rows sorted by path)."""
    from harness.data.masks import content_key

    h = hashlib.sha256()
    for row in table[["image_path", "mask_paths", "label", "defect_type", "split"]].itertuples(index=False):
        h.update(json.dumps([row.image_path, checks[str(row.image_path)].sha256, int(row.label), row.defect_type,
                             row.split, [[m, content_key(checks[str(m)].sha256, mask_threshold)]
                                         for m in row.mask_paths]]).encode())
    return h.hexdigest()[:16]

