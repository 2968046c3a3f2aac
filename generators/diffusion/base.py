"""What the diffusion generators (DH-Diff, the two-stage baseline) share: the fit preamble, the
backbone build, the training call, the store key of a fit, and save/load.

Why a base: the two had grown the same code twice (data to tensors, the few-shot masks kept per
defect type, the pretrained/from-scratch build, the checkpointed training call, the saved
format), and a device fix made in one was missing in the other. A subclass says what differs:
its networks (`_build_scratch`, `_build_pretrained`, `_networks`) and its losses.

Devices: everything is built on `self.device` (the run's `torch.device`, `RunContext.device`);
images and masks are made on the host, moved once, and noise is drawn on the device
(`harness.core.device`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch
from torch import nn

from harness.core import AnomalyPair, Generator, RequiredFile
from generators.diffusion import pretrained as sd
from generators.diffusion.backbone import BackboneSpec, ClipPromptEncoder, Codec, prompt_for, spec_from
from generators.diffusion.params import SAMPLING_KEYS, fingerprint_params
from generators.diffusion.sampling import make_train_scheduler, model_file
from generators.diffusion.tensors import images_to_tensor, masks_to_tensor
from generators.diffusion.training import TrainResult, checkpoint_dir, fingerprint, source_fingerprint, train_loop
from harness.core.fsio import atomic_path


@dataclass
class FitData:
    """The generator-train data of one fit, as tensors on the host (moved to the device by the caller)."""

    labels: list[str]  # "good" for each normal image, then each anomaly's defect type
    images: torch.Tensor  # (N,3,S,S) in [-1,1]: the normals, then the anomalies
    anomaly_masks: torch.Tensor  # (A,1,S,S) in {0,1}: the anomalies' masks
    prompts: dict[str, str]  # label → text condition

    @property
    def n_normal(self) -> int:
        return len(self.labels) - len(self.anomaly_masks)


class DiffusionGenerator(Generator):
    """Base of the diffusion generators; subclasses build their networks and define their losses."""

    needs_real_anomalies = True
    conditions_on_defect_type = True
    keeps_canvas_outside_mask = True
    #: the contract checks' size: a two-level UNet at 16 px trained 8 steps (seconds on a CPU)
    tiny_params: ClassVar[dict[str, Any]] = dict(
        resolution=16, patch=2, block_channels=[16, 32], attention_levels=1, attention_heads=2, cross_attention_dim=16,
        steps=8, batch_size=4, sample_steps=4, sample_batch=8, checkpoint_every=0)
    #: a 4-step fit checkpointed every 2 steps, then a 6-step one that resumes it
    resume_params: ClassVar[tuple[dict[str, Any], ...]] = ({"checkpoint_every": 2, "steps": 4},
                                                           {"checkpoint_every": 2, "steps": 6})
    #: the saved model's format tag (a file of another format is refused when loading)
    FORMAT: ClassVar[str] = ""
    #: packages whose source code is part of every fit's store key (`source_fingerprint`)
    SOURCE: ClassVar[tuple[str, ...]] = ("generators.diffusion",)
    #: params besides the shared ARCH_KEYS that fix the networks' shape (a saved model brings its own)
    EXTRA_ARCH: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def required_files(cls, params) -> list[RequiredFile]:
        """A pretrained SD checkpoint (hub id or folder), a local VAE / SD folder, a local CLIP text encoder."""
        files = []
        if params.pretrained:
            files.append(RequiredFile("pretrained", params.pretrained, "sd-checkpoint", "SD checkpoint"))
        for key, label in (("pretrained_path", "VAE folder"), ("text_encoder_path", "CLIP text encoder folder")):
            if getattr(params, key):
                files.append(RequiredFile(key, getattr(params, key), "path", label,
                                          f"point {key} at an existing folder or unset it"))
        return files

    def __init__(self, params: dict[str, Any] | None, context):
        super().__init__(params, context)
        self.text_encoder: ClipPromptEncoder | None = None
        self.codec: Codec | None = None
        self.defect_types: list[str] = []
        self.fallback_masks: dict[str, torch.Tensor] = {}  # real few-shot masks per type (host, uint8)
        self.schedule: dict | None = None  # the pretrained backbone's noise schedule (None: ours)
        self._bar = None

    @property
    def device(self) -> torch.device:
        return self.context.device

    # ------------------------------------------------------------------ what subclasses provide
    def _networks(self) -> dict[str, nn.Module | None]:
        """The trained networks by the key they are saved under."""
        raise NotImplementedError

    def _build_scratch(self, spec: BackboneSpec, vocab: Sequence[str]) -> None:
        """Build the from-scratch networks (the torch seed is set by the caller)."""
        raise NotImplementedError

    def _build_pretrained(self, seed: int) -> None:
        """Build the networks on the pretrained SD UNet (codec, text encoder and schedule are loaded)."""
        raise NotImplementedError

    def _vocab(self) -> list[str]:
        """The learned prompt encoder's words (empty with a frozen text encoder)."""
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        """What else the saved model holds (besides params, defect types, masks and networks)."""
        return {}

    def _restore_extra(self, blob: dict[str, Any]) -> None:
        """Restore `_extra_state`'s fields from a loaded blob."""

    # ------------------------------------------------------------------ fit
    def _fit_data(self, normal_images: Sequence[np.ndarray], anomaly_pairs: Sequence[AnomalyPair],
                  side: int) -> FitData:
        """The generator-train images and masks at `side` px, the defect types and their real masks."""
        if not anomaly_pairs:
            raise ValueError(f"{self.name}: fit() got no real anomaly pairs; it trains on the generator-train "
                             "split's image+mask pairs (needs_real_anomalies)")
        labels = ["good"] * len(normal_images) + [a.defect_type for a in anomaly_pairs]
        images = images_to_tensor(list(normal_images) + [a.image for a in anomaly_pairs], side)
        masks = masks_to_tensor([a.mask for a in anomaly_pairs], side)
        self.defect_types = sorted({a.defect_type for a in anomaly_pairs})
        types = [a.defect_type for a in anomaly_pairs]
        self.fallback_masks = {d: masks[[i for i, t in enumerate(types) if t == d]].to(torch.uint8)
                               for d in self.defect_types}
        prompts = {c: prompt_for(self.context.category, c) for c in set(labels)}
        return FitData(labels, images, masks, prompts)

    def _build(self, vocab: Sequence[str], seed: int) -> None:
        """The networks on `self.device`: on a pretrained SD checkpoint (its VAE, text encoder and
        schedule), or from scratch in pixel space (or a local VAE's latents) with a learned prompt encoder."""
        if self.params.pretrained:
            self.schedule, self.params, self.codec, self.text_encoder = sd.load_shared_parts(
                self.name, self.params, self.device)
            self._build_pretrained(seed)
        else:
            p = self.params
            spec = spec_from(p)
            self.codec = Codec(p.pretrained_path, p.resolution, p.patch).to(self.device)
            if p.text_encoder_path:
                self.text_encoder = ClipPromptEncoder(p.text_encoder_path).to(self.device)
                spec = BackboneSpec(**{**spec.__dict__, "cross_attention_dim": self.text_encoder.dim})
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build_scratch(spec, vocab)
        for network in self._networks().values():
            network.to(self.device)

    def _encode_images(self, images: torch.Tensor, chunk: int = 32) -> torch.Tensor:
        """Host images → the codec's space on the device, `chunk` at a time (a VAE at 512 px is large)."""
        with torch.no_grad():
            return torch.cat([self.codec.encode(images[i:i + chunk].to(self.device))
                              for i in range(0, len(images), chunk)])

    def _alphas(self) -> torch.Tensor:
        """The training schedule's alpha_bar per timestep, on the device (indexed by device timesteps)."""
        return make_train_scheduler(self.schedule).alphas_cumprod.to(self.device)

    def _fit_key(self, sampling_only: set[str], seed: int, *data: Any) -> str:
        """The store key of a fit: params that change training (not `steps`: fits that differ only in
        steps share a file), seed, data, the generator's source code and the device type (a CUDA
        fit is not a CPU fit: other arithmetic, other random streams)."""
        p = self.params
        return fingerprint(self.name, fingerprint_params(p, {"steps", *SAMPLING_KEYS, *sampling_only}), seed,
                           self.context.category, *data, source_fingerprint(*self.SOURCE), self.device.type)

    def _train(self, network: nn.Module, step_loss, *, seed: int, key: str, file: str, desc: str) -> TrainResult:
        """`train_loop` with this generator's budget, store file and device."""
        p = self.params
        ckpt = checkpoint_dir(self.context) / f"{file}-{key}.pt" if p.checkpoint_every else None
        return train_loop(network, step_loss, steps=p.steps, lr=p.lr, seed=seed, ema_decay=p.ema_decay,
                          checkpoint_path=ckpt, checkpoint_every=p.checkpoint_every, run_fingerprint=key,
                          show_progress=self.context.show_progress, desc=desc, trainable_only=bool(p.pretrained),
                          device=self.device, precision=p.precision)

    def _tick(self, images: int) -> None:
        if self._bar is not None:
            self._bar.update(images)

    # ------------------------------------------------------------------ persistence
    def _saved_state(self, network: nn.Module) -> dict[str, torch.Tensor]:
        full = network.state_dict()
        if not self.params.pretrained:
            return full
        keep = set(sd.trainable_names(network))  # the frozen pretrained weights are re-read from `pretrained`
        return {k: v for k, v in full.items() if k in keep}

    def save(self, path: Path) -> None:
        networks = self._networks()
        if any(n is None for n in networks.values()):
            raise RuntimeError(f"{self.name}: nothing to save; call fit() first")
        path = model_file(Path(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, what=f"the saved {self.name} model") as tmp:
            torch.save({"format": self.FORMAT, "name": self.name, "params": self.params.model_dump(),
                        "category": self.context.category, "vocab": self._vocab(), "defect_types": self.defect_types,
                        "fallback_masks": self.fallback_masks, **self._extra_state(),
                        **{key: self._saved_state(n) for key, n in networks.items()}}, tmp)

    def load(self, path: Path) -> None:
        from generators.diffusion.params import ARCH_KEYS

        path = model_file(Path(path))
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no saved {self.name} model; run fit() and save() first")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("format") != self.FORMAT:
            raise ValueError(f"{path}: not a {self.FORMAT} file (format {blob.get('format')!r}); save it with {self.name}")
        arch = (*ARCH_KEYS, *self.EXTRA_ARCH)
        self.params = self.params.model_copy(update={k: blob["params"][k] for k in arch if k in blob["params"]})
        self.defect_types = list(blob["defect_types"])
        self.fallback_masks = dict(blob["fallback_masks"])
        self._restore_extra(blob)
        self._build(list(blob["vocab"]), seed=0)
        for key, network in self._networks().items():
            if self.params.pretrained:
                sd.load_trainable(network, blob[key], f"{path} ({key})")
            else:
                network.load_state_dict(blob[key])  # copies the host tensors into the device's
            network.eval()
