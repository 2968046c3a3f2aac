"""The device a run computes on, decided once, and the few helpers that keep tensors on it.

Why one module: device bugs hide behind implicit assumptions ("this tensor is on the CPU"). The
driver resolves the spec's ``device`` once (`resolve_device`); every plug-in gets it as a
`torch.device` in its `RunContext`; seeded draws and numpy→tensor conversions go through the
helpers here, which say where a tensor is made instead of leaving it to a default.

Seeded draws follow diffusers' ``randn_tensor``: a generator lives on the device it was made for
(`generator`): the CPU for CPU runs (the numbers every earlier CPU run drew, unchanged), the GPU
for CUDA runs (drawing megabytes of noise per step on the host and copying it over would starve the
GPU). On a device torch has no generator for, draws are made on the CPU and moved. So a seed
gives the same numbers on the same device, run after run; CPU and GPU draws differ, as their
arithmetic does anyway.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Literal, Sequence

import numpy as np
import torch

from harness.core.plugin import DeviceUnavailable

__all__ = ["DeviceUnavailable", "Precision", "as_device", "as_tensor", "autocast", "fast_math", "generator", "is_cuda",
           "peak_memory_mib", "rand", "randint", "randn", "reset_peak_memory", "resolve_device", "synchronize",
           "to_numpy", "use_bf16"]

Precision = Literal["auto", "fp32", "bf16"]


def resolve_device(requested: str | torch.device | None = "auto") -> torch.device:
    """``auto`` → the first GPU where CUDA works, else the CPU; ``cuda`` / ``cuda:N`` / ``cpu`` as
    asked, checked here, once, before anything is written."""
    name = "auto" if requested is None else str(requested)
    if name == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceUnavailable(f"device: '{name}' is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(
                f"device: {name} requested but CUDA is not available on this machine (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda or 'none'}); set device: cpu or auto")
        count = torch.cuda.device_count()
        index = 0 if device.index is None else device.index
        if index >= count:
            raise DeviceUnavailable(f"device: {name} requested but this machine has {count} GPU(s) "
                                    f"(cuda:0..cuda:{count - 1}); pick one of them")
        return torch.device("cuda", index)
    return device


def as_device(device: str | torch.device) -> torch.device:
    """A `torch.device` from what a caller holds (plug-ins written for a string keep working)."""
    return device if isinstance(device, torch.device) else torch.device(device)


def is_cuda(device: str | torch.device) -> bool:
    return as_device(device).type == "cuda"


# ----------------------------------------------------------------------------- seeded draws


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded generator on `device` where torch has one there (CPU, CUDA), else on the CPU."""
    device = as_device(device)
    where = device if device.type in ("cpu", "cuda") else torch.device("cpu")
    return torch.Generator(device=where).manual_seed(int(seed))


def _on(gen: torch.Generator | None, device: torch.device) -> bool:
    """Whether `gen` draws directly on `device` (cuda and cuda:0 are one device)."""
    return gen is None or gen.device == device or gen.device.type == device.type == "cuda"


def _draw(fn, shape: Sequence[int], gen: torch.Generator | None, device: torch.device, **kw) -> torch.Tensor:
    if _on(gen, device):
        return fn(tuple(shape), generator=gen, device=device, **kw)
    return fn(tuple(shape), generator=gen, device=gen.device, **kw).to(device)


def randn(shape: Sequence[int], gen: torch.Generator | None, device: str | torch.device,
          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal noise of `shape` on `device`, drawn from `gen` (see the module's docstring)."""
    return _draw(torch.randn, shape, gen, as_device(device), dtype=dtype)


def rand(shape: Sequence[int], gen: torch.Generator | None, device: str | torch.device,
         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return _draw(torch.rand, shape, gen, as_device(device), dtype=dtype)


def randint(low: int, high: int, shape: Sequence[int], gen: torch.Generator | None,
            device: str | torch.device) -> torch.Tensor:
    device = as_device(device)
    if _on(gen, device):
        return torch.randint(low, high, tuple(shape), generator=gen, device=device)
    return torch.randint(low, high, tuple(shape), generator=gen, device=gen.device).to(device)


def as_tensor(data: Any, device: str | torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """numpy arrays, lists or tensors → a tensor on `device` (one host→device copy, no silent CPU tensor)."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data))
    return torch.as_tensor(data, dtype=dtype, device=as_device(device))


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor's values on the host, wherever it lives (the one explicit device→host copy)."""
    return t.detach().cpu().numpy()


# ----------------------------------------------------------------------------- arithmetic precision


def use_bf16(device: str | torch.device, precision: Precision) -> bool:
    """bf16 autocast: ``auto`` turns it on for CUDA (tensor cores) only; CPU runs stay fp32."""
    if precision == "bf16":
        return True
    return precision == "auto" and is_cuda(device)


@contextlib.contextmanager
def autocast(device: str | torch.device, precision: Precision = "auto") -> Iterator[None]:
    """bf16 autocast on `device` when `use_bf16` says so, else nothing (fp32)."""
    device = as_device(device)
    if not use_bf16(device, precision) or device.type not in ("cpu", "cuda"):
        yield
        return
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        yield


def fast_math(device: str | torch.device) -> None:
    """On CUDA: TF32 tensor cores for fp32 matrix products, as PyTorch's cuDNN convolutions already
    use by default. Not cuDNN's autotuner: it picks kernels by timing, so two runs of one seed
    could differ. A no-op elsewhere: CPU numbers are untouched."""
    if is_cuda(device):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


# ----------------------------------------------------------------------------- measurement


def synchronize(device: str | torch.device) -> None:
    """Wait for the device's queued work (a timer around GPU work means nothing without it)."""
    if is_cuda(device):
        torch.cuda.synchronize(as_device(device))


def reset_peak_memory(device: str | torch.device) -> None:
    if is_cuda(device):
        torch.cuda.reset_peak_memory_stats(as_device(device))


def peak_memory_mib(device: str | torch.device) -> float | None:
    """Peak memory torch allocated on the GPU since the last reset (None off CUDA)."""
    if not is_cuda(device):
        return None
    return torch.cuda.max_memory_allocated(as_device(device)) / 2**20
