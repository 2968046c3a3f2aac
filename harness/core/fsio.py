"""Every file the harness writes goes through here: atomic, and with one-line errors when it cannot.

A write is a temp file in the target's folder, fsynced, then `os.replace`d onto the target,
so a crash, a kill or a full disk leaves the old file or the new one, never half of one.
When the disk is full or the folder is read-only, the `OSError` (or the SQLite/SQLAlchemy
error MLflow chains it through) becomes an `OutputWriteError`: one line naming the folder,
the bytes needed and the fix, which `bench` prints instead of a traceback.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

#: errno values that mean "this output folder cannot take the write", not a bug
_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_READ_ONLY = {errno.EROFS, errno.EACCES, errno.EPERM}
#: how the same faults read once a library has turned them into text (SQLite via SQLAlchemy, a worker's traceback)
_TEXT_PATTERNS = (
    (re.compile(r"\[Errno (28|122)\]|No space left on device|database or disk is full|Disk quota exceeded", re.I), "space"),
    (re.compile(r"\[Errno (30|13)\]|Read-only file system|attempt to write a readonly database|Permission denied", re.I),
     "read-only"),
)


class OutputWriteError(OSError):
    """The output folder cannot take a write (full, read-only): one line with the folder and the fix."""


def free_bytes(folder: Path) -> int | None:
    """Free bytes on `folder`'s filesystem (its nearest existing parent), or None if unknown."""
    p = Path(folder)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def fault_kind(exc: BaseException | str) -> str | None:
    """'space', 'read-only' or None: whether `exc` (or its text) is an output-folder fault."""
    if isinstance(exc, OutputWriteError):
        return "space" if "no space" in str(exc) else "read-only"
    seen: set[int] = set()
    e: BaseException | None = exc if isinstance(exc, BaseException) else None
    while e is not None and id(e) not in seen:  # walk the chain: SQLAlchemy wraps sqlite3 wraps the OS
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno is not None:
            if e.errno in _SPACE:
                return "space"
            if e.errno in _READ_ONLY:
                return "read-only"
        e = e.__cause__ or e.__context__
    text = str(exc)
    for pattern, kind in _TEXT_PATTERNS:
        if pattern.search(text):
            return kind
    return None


def output_error(folder: Path, kind: str, what: str, need: int | None = None) -> OutputWriteError:
    """The one-line error for `kind` ('space' / 'read-only') writing `what` into `folder`."""
    folder = Path(folder)
    if kind == "space":
        needed = f"{_human(need)} needed, " if need else ""
        return OutputWriteError(
            f"{folder}: no space left on device writing {what} ({needed}{_human(free_bytes(folder))} free); "
            "free space there or set output_dir to a folder on a bigger disk, then re-run (finished cells are kept)")
    return OutputWriteError(
        f"{folder}: folder is read-only (cannot write {what}); make it writable or set output_dir "
        "(and report.dir) to a writable folder, then re-run")


def translate(exc: BaseException, folder: Path, what: str, need: int | None = None) -> BaseException:
    """`exc` as an `OutputWriteError` when it is a full or read-only folder; else `exc` itself."""
    if isinstance(exc, OutputWriteError):
        return exc
    kind = fault_kind(exc)
    return output_error(folder, kind, what, need) if kind else exc


def _default_mode() -> int:
    """The mode `open()` would give a new file (0o666 less the umask): mkstemp's 0o600 would make
    reports and datasets unreadable to the rest of a team."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_mode()


@contextmanager
def atomic_path(path: Path, *, what: str | None = None, need: int | None = None,
                durable: bool = True) -> Iterator[Path]:
    """A temp path beside `path` to write to (for writers that want a file name: PIL, matplotlib);
    renamed onto `path` when the block succeeds, removed when it fails. `durable=False` skips the
    fsync, for files inside a folder that is itself renamed into place once complete (the
    built-in dataset: a crash leaves only the temp folder, and the syncs doubled its write time)."""
    path = Path(path)
    what = what or path.name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise translate(exc, path.parent, what, need) from None
    try:
        yield Path(tmp)
        if durable:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise translate(exc, path.parent, what, need) from None
        raise


def write_bytes_atomic(path: Path, data: bytes, *, what: str | None = None) -> None:
    with atomic_path(path, what=what, need=len(data)) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text_atomic(path: Path, text: str, *, what: str | None = None) -> None:
    write_bytes_atomic(path, text.encode(), what=what)


def write_json_atomic(path: Path, data: Any, *, what: str | None = None) -> None:
    """JSON (indented, sorted keys: byte-identical for the same data), written atomically."""
    write_bytes_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str).encode(), what=what)


def mkdir(folder: Path, *, what: str = "the output folder") -> Path:
    """`folder` (and parents) made, with the one-line error on a read-only or full disk."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise translate(exc, Path(folder), what) from None
    return Path(folder)


def require_writable(folder: Path, *, what: str = "the run's outputs") -> None:
    """Fail now, before any work, if `folder` cannot be created or written to (read-only, full).

    Leaves nothing behind that was not there: folders it had to create are removed again.
    """
    folder = Path(folder)
    first_missing = None
    p = folder
    while not p.exists() and p != p.parent:
        first_missing = p
        p = p.parent
    if p.exists() and not p.is_dir():
        raise OutputWriteError(f"{p}: is a file, not a folder; set output_dir to a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-probe.")
        try:
            os.write(fd, b"0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        raise translate(exc, folder, what, 4096) from None
    finally:
        if first_missing is not None and folder.exists() and not any(folder.iterdir()):
            shutil.rmtree(first_missing, ignore_errors=True)


def record_failure(folder: Path, message: str, write: Callable[[], None]) -> None:
    """Write a failed cell's record through `write`, guarded: when the failure (or that write) is a
    full or read-only output folder, stop the grid with the one-line error instead of failing every
    cell after it. Finished cells are on disk already (atomic writes), so nothing is lost."""
    kind = fault_kind(message)
    try:
        write()
    except OSError as exc:
        kind = kind or fault_kind(exc)
        if not kind:
            raise
    if not kind:
        return
    prefix = f"{OutputWriteError.__name__}: "
    if message.startswith(prefix):  # already the one line, naming the folder and bytes
        raise OutputWriteError(message[len(prefix):].splitlines()[0])
    raise output_error(folder, kind, "the grid's outputs")
