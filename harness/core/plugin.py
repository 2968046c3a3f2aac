"""What every plug-in (generator, detector, dataset) shares: declared params, a run context, and
the capabilities the harness reads instead of knowing plug-ins by name.

Params are a pydantic model per plug-in (unknown keys are errors), with per-profile
defaults (`cpu-quick` sized for 2 CPU cores, `gpu-full` matching the papers) that the
spec's own params override. The capabilities (`tiny_params`, `expected_failures`,
`supported_devices`, `required_files`) are declared by the plug-in, as scikit-learn's
estimator tags are, so that the contract checks (`harness.core.checks`) and `bench doctor`
work the same for a third party's plug-in as for ours.
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


FileKind = Literal["path", "sd-checkpoint", "timm-backbone"]


@dataclass(frozen=True)
class RequiredFile:
    """One file or folder a plug-in needs for its params, as `bench doctor` lists and looks for it.

    `kind` says how the doctor looks (never downloading): ``path`` a local file or folder that
    must exist; ``sd-checkpoint`` a diffusers Stable Diffusion folder or Hugging Face hub id;
    ``timm-backbone`` an ImageNet backbone by timm name (`weights`: a local state dict given
    instead). The kinds are file formats, not plug-ins: the plug-in says which params name one.
    """

    param: str  # the param that names it
    value: str  # the path, hub id or model name that param holds
    kind: FileKind = "path"
    label: str = ""  # what it is, for the doctor's table ("DTD texture folder"); default: the param
    how: str = ""  # how to provide it offline
    weights: str | None = None  # timm-backbone: a local state dict to use instead of the download


class Plugin:
    """Mixin giving a plug-in its `Params` model, profile defaults and declared capabilities."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[PluginParams]] = PluginParams
    profile_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: the params the contract checks (`harness.core.checks`) run the plug-in with: the smallest that
    #: still exercise its code, seconds on 2 CPU cores (on top of the cpu-quick profile)
    tiny_params: ClassVar[dict[str, Any]] = {}
    #: check name (`harness.core.checks`) → why this plug-in fails it on purpose; the check then
    #: must fail (an expected failure that passes is reported, so the entry cannot go stale)
    expected_failures: ClassVar[dict[str, str]] = {}
    #: `torch.device` types the plug-in computes on; "cuda" also stands for any accelerator, and the
    #: checks then run it on the fake one (`harness.core.fakegpu`); a spec asking another is refused
    supported_devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")

    @classmethod
    def required_files(cls, params: PluginParams) -> list[RequiredFile]:
        """The files and folders `params` (resolved) make this plug-in read: checkpoints, backbones,
        texture folders. None by default; plug-ins that load weights or data override it."""
        return []

    @classmethod
    def resolve_params(cls, params: dict[str, Any] | None, profile: str) -> PluginParams:
        merged = {**cls.profile_defaults.get(profile, {}), **(params or {})}
        try:
            return cls.Params(**merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ParamError(f"{cls.name or cls.__name__}: param '{loc}': {first['msg']}") from None
