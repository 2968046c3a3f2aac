"""What every plug-in (generator, detector, dataset) shares: declared params and a run context.

Params are a pydantic model per plug-in (unknown keys are errors), with per-profile
defaults (`cpu-quick` sized for 2 CPU cores, `gpu-full` matching the papers) that the
spec's own params override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

Profile = Literal["cpu-quick", "gpu-full"]
PROFILES: tuple[str, ...] = ("cpu-quick", "gpu-full")


class PluginParams(BaseModel):
    """Base of every plug-in's params: unknown keys are rejected, not ignored."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ParamError(ValueError):
    """A plug-in's params failed validation; the message names the plug-in and the key."""


class DeviceUnavailable(RuntimeError):
    """The spec asks for a device this machine does not have; the message says what to set instead
    (raised by `harness.core.device.resolve_device`; defined here, where importing costs no torch)."""


@dataclass(frozen=True)
class RunContext:
    """Where and how a plug-in runs inside one grid cell.

    `device` is the run's resolved `torch.device` (`harness.core.device.resolve_device`, decided
    once by the driver): a plug-in builds its tensors and modules there and never assumes the CPU.
    A string given here (``"cpu"``, ``"cuda:0"``) is turned into a `torch.device`.
    """

    category: str
    image_size: int
    profile: str = "cpu-quick"
    device: Any = "cpu"  # a torch.device after __post_init__
    work_dir: Path = field(default_factory=lambda: Path("."))
    show_progress: bool = True
    #: run-level folder for caches shared between cells (detectors: frozen-backbone features;
    #: generators: training checkpoints keyed by a fingerprint of training params and data); None = none kept
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        import torch  # here, not at import: `bench list` and the registry stay light

        if not isinstance(self.device, torch.device):
            object.__setattr__(self, "device", torch.device(self.device))


class Plugin:
    """Mixin giving a plug-in its `Params` model and profile defaults."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[PluginParams]] = PluginParams
    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {}

    @classmethod
    def resolve_params(cls, params: dict[str, Any] | None, profile: str) -> PluginParams:
        merged = {**cls.profile_defaults.get(profile, {}), **(params or {})}
        try:
            return cls.Params(**merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ParamError(f"{cls.name or cls.__name__}: param '{loc}': {first['msg']}") from None
