"""One `bench run` per output folder: a lock file naming its holder.

Two runs on one folder computed the same cells twice, raced on MLflow's schema and
rewrote each other's augmented sets. The lock is an OS file lock (`fcntl.flock`) on
``<run_dir>/.bench.lock``, which the kernel drops when its process dies however it
dies; the file's content (pid, host, since) is only what the refusal tells the user.
A lock file with content whose lock nobody holds is a crashed run's: it is taken over
with a warning. Where the filesystem has no working flock (some network mounts), the
pid is checked too, on the same host.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

LOCK_FILE = ".bench.lock"


class LockHeld(RuntimeError):
    """Another live `bench run` holds the output folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(holder: dict) -> str:
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('since', '?')}"


def _read(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 65536)
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"pid": "?", "host": "?", "since": "?"}


@contextmanager
def run_lock(run_dir: Path, *, warn: Callable[[str], None] = print) -> Iterator[Path]:
    """Hold `run_dir`'s lock for the block; raise `LockHeld` (one line: holder, what to do) if taken."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            raise LockHeld(f"{run_dir} is in use by another bench run ({_describe(holder)}); wait for it to "
                           f"finish or stop it, or use another output folder (--set output_dir=...)") from None
        here = socket.gethostname()
        previous = _read(fd)
        if previous:
            pid = previous.get("pid")
            if previous.get("host") == here and isinstance(pid, int) and pid != os.getpid() and _alive(pid):
                raise LockHeld(f"{run_dir} is in use by another bench run ({_describe(previous)}; its file lock "
                               f"is not visible here); wait for it, or delete {path} if that process is no bench run")
            warn(f"warning: {run_dir}: taking over the lock of a run that is gone ({_describe(previous)})")
        mine = {"pid": os.getpid(), "host": here, "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(mine).encode())
        os.fsync(fd)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)  # empty = free; the file stays so no one locks a deleted inode
    finally:
        os.close(fd)  # releases the flock


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an OS file lock on `path` for the block, waiting while another process holds it: jobs
    that would compute the same file (one generator fit shared by several variants) take turns,
    and the later one finds the file made. The kernel drops the lock if its holder dies. Where the
    filesystem has no working flock, the block runs unlocked (the work is then merely repeated)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # releases the flock
