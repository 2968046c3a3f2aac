"""Nothing escapes its root: every path built from a spec or dataset value is checked.

Output paths are joined from names a user or a dataset chooses (a category, a label, a defect
type). A name that is absolute or holds ``..`` or a separator would put augmented sets, split
files or report files anywhere on disk (``Path(run_dir, "/etc")`` is ``/etc``). `plain_name`
refuses such a name where it enters; `inside` checks a joined path against its root after
resolving symlinks, as a last guard.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.data.table import DatasetError

_SEPARATORS = re.compile(r"[/\\\x00]")


class PathEscape(DatasetError):
    """A path built from a spec or dataset value would leave its root (one line: the value and the fix)."""


def plain_name(value: str, what: str) -> str:
    """`value` if it is one plain folder or file name (no separator, not ``.``/``..``, not empty)."""
    if not value or value in (".", "..") or _SEPARATORS.search(value) or Path(value).is_absolute():
        raise PathEscape(f"{what} {value!r} is not a plain name (no '/', '\\', '..' or absolute path): outputs "
                         "named after it would be written outside the output folder; give a plain name")
    return value


def inside(root: Path, relative: str | Path, what: str) -> Path:
    """``root / relative``, refused when it resolves (symlinks followed) outside `root`."""
    path = Path(root) / relative
    real_root = Path(root).resolve()
    real = path.resolve()
    if real != real_root and real_root not in real.parents:
        raise PathEscape(f"{what}: {path} resolves to {real}, outside {real_root}; use plain names for "
                         "categories, labels and folders")
    return path
