"""Shared pieces of the reliability catalogue: tiny datasets the tests draw, `bench` in-process and
as a subprocess, the catalogue table of docs/reliability.md, and snapshots of what is on disk.

(A module rather than conftest.py, because the tests import its helpers; conftest.py puts this
folder on sys.path and re-exports its fixtures.)"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"
PLUGIN = Path(__file__).with_name("_plugin.py")
SIZE = 32


import _plugin as plugin  # noqa: E402 - this folder is on sys.path (conftest.py)


# --- the catalogue ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    case: str
    sees: str
    kept: str

    @property
    def fragments(self) -> list[str]:
        """The backticked parts of 'what the user sees': each must appear in what bench prints."""
        return re.findall(r"`([^`]+)`", self.sees)

    def check(self, text: str) -> None:
        for frag in self.fragments:
            assert frag in text, f"catalogue case {self.id}: {frag!r} not in {text!r}"


def read_catalogue() -> dict[str, Case]:
    rows: dict[str, Case] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[GB]\d+[a-z]?", cells[0]):
            assert cells[0] not in rows, f"{DOC}: case {cells[0]} twice"
            rows[cells[0]] = Case(*cells)
    return rows


def case(case_id: str) -> Case:
    """The catalogue row a test reproduces (tests/reliability/test_catalogue.py checks every row has one)."""
    return read_catalogue()[case_id]


# --- tiny data ----------------------------------------------------------------------------------

def draw(seed: int, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = np.full((size, size, 3), 120, np.uint8)
    return np.clip(base + rng.integers(-20, 20, (size, size, 3)), 0, 255).astype(np.uint8)


def save(arr: np.ndarray, path: Path, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (Image.fromarray(arr) if mode is None else Image.fromarray(arr).convert(mode)).save(path)
    return path


def defect_pair(seed: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    img = draw(seed, size)
    mask = np.zeros((size, size), np.uint8)
    y = 4 + seed % 16
    mask[y:y + 8, 6:14] = 255
    img[mask > 0] = (230, 40, 40)
    return img, mask


def make_folder_dataset(root: Path, *, n_normal: int = 8, defects: dict[str, int] | None = None) -> Path:
    """normal/, abnormal/<defect>/, masks/<defect>/ of 32 px PNGs, the `folder` adapter's layout."""
    defects = defects or {"scratch": 3, "dent": 3}
    for i in range(n_normal):
        save(draw(i), root / "normal" / f"{i:03d}.png")
    k = 100
    for defect, n in defects.items():
        for i in range(n):
            img, mask = defect_pair(k)
            save(img, root / "abnormal" / defect / f"{i:03d}.png")
            save(mask, root / "masks" / defect / f"{i:03d}.png")
            k += 1
    return root


FOLDER_PARAMS = {"normal_dir": "normal", "abnormal_dir": "abnormal", "mask_dir": "masks"}


def spec_dict(tmp: Path, data_root: Path, **over) -> dict:
    spec = {
        "name": "rel",
        "image_size": SIZE,
        "seeds": [0],
        "threads": 1,
        "datasets": [{"name": "folder", "root": str(data_root), "params": dict(FOLDER_PARAMS)}],
        "generation": {"n_samples": 4, "quality_metrics": False},
        "generators": [{"name": "none"}, {"name": "cutpaste"}],
        "detectors": [{"name": plugin.NAME}],
        "output_dir": str(tmp / "out" / "run"),
        "report": {"dir": str(tmp / "out" / "report")},
    }
    spec.update(over)
    return spec


def write_spec(path: Path, data: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


# --- running bench ------------------------------------------------------------------------------

@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The error bench printed: exactly one line on stderr, starting 'error: '."""
        lines = [ln for ln in self.err.splitlines() if ln.strip()]
        assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{self.err}"
        assert lines[0].startswith("error: "), lines[0]
        return lines[0]


@pytest.fixture
def registered(monkeypatch):
    """`rel-mean` in the detector registry for this test only."""
    from harness.core.registry import DETECTORS

    DETECTORS.names()  # load the built-in entry points first, so ours is an addition
    monkeypatch.setitem(DETECTORS._entries, plugin.NAME, plugin.entry())


@pytest.fixture
def bench(registered):
    """`bench run --no-progress ARGS...` in this process, with `rel-mean` registered."""

    def run(*args: str) -> Ran:
        from harness.cli import main

        res = CliRunner().invoke(main, ["run", "--no-progress", *map(str, args)], catch_exceptions=False)
        return Ran(res.exit_code, res.stdout, res.stderr)

    return run


def bench_killed_at(point: str, spec: Path, tmp: Path, nth: int = 1, timeout: float = 120.0) -> None:
    """Run bench in a subprocess until it reaches `point` the `nth` time (see `_plugin`), then SIGKILL it."""
    marker = tmp / f"reached-{point}"
    env = {**os.environ, "REL_HANG_AT": point, "REL_HANG_NTH": str(nth), "REL_MARKER": str(marker),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(PLUGIN), "run", "--no-progress", str(spec)], env=env, cwd=tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t0 = time.time()
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"bench ended (rc {proc.returncode}) before {point}:\n{proc.stdout.read().decode()}")
            if time.time() - t0 > timeout:
                raise AssertionError(f"bench did not reach {point} in {timeout} s")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()


# --- what is on disk ----------------------------------------------------------------------------

def snapshot(folder: Path) -> dict[str, str]:
    """relative path → sha256 of every file under `folder` (empty when it does not exist)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def records(run_dir: Path) -> dict[str, dict]:
    """Finished cells: cell slug (without fingerprint) → metrics."""
    from harness.cells import CellStore

    return {f"{r.key.generator}/{r.key.detector}": r.metrics for r in CellStore(run_dir).records()}


@pytest.fixture
def data(tmp_path) -> Path:
    return make_folder_dataset(tmp_path / "data")


@pytest.fixture(scope="session")
def store_uri(tmp_path_factory) -> str:
    """One MLflow store for the runs whose MLflow side is not under test (its schema is made once)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def run_spec(tmp: Path, data_root: Path, store: str | None = None, **over) -> dict:
    """`spec_dict` with a name unique to the test (one MLflow experiment each) and, given, a shared store."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"rel-{tmp.name}")[:60]
    d = spec_dict(tmp, data_root, name=name, **over)
    if store:
        d["tracking_uri"] = store
    return d


@contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False):
    """A real tmpfs of `size` at `path` (root, where mounting works); yields False when it cannot
    (or when REL_NO_MOUNT is set, to exercise the tests' fallback)."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    ok = os.geteuid() == 0 and not os.environ.get("REL_NO_MOUNT") and subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                                              capture_output=True).returncode == 0
    try:
        yield ok
    finally:
        if ok:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def leftovers(folder: Path) -> list[str]:
    """Temp files and partial sets a failed write must not leave."""
    return [str(p) for p in folder.rglob("*") if p.name.endswith((".tmp", ".partial")) or ".partial" in p.name]
