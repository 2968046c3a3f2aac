"""A fake accelerator for CPU-only machines: tensors that live on ``fakegpu:0``, compute on the
CPU, and raise PyTorch's own device-mismatch error wherever a GPU would.

Why: CI has no GPU, and device bugs (a CPU tensor mixed into a GPU computation, ``.numpy()`` on
a device tensor, an optimiser or EMA state restored on the CPU, a CPU generator asked for device
noise) only show on one. ``torch._subclasses.FakeTensorMode`` can fake ``cuda`` tensors on a CPU
box, but it carries no values: it cannot run ``.item()``, ``nonzero``, numpy conversions or
anything data-dependent, and on a CPU-only build autograd asks the CUDA driver for a stream, so
it covers one step at most. Here every tensor on the fake device wraps a real CPU tensor, so a
whole fit, a sample and a prediction run to the end, with real numbers (identical to the CPU's,
op for op), while every op checks the devices of its inputs the way CUDA kernels do.

The device is PyTorch's ``privateuseone`` slot, renamed ``fakegpu``, with Python hooks
(``torch.utils.backend_registration``) so that module moves, autograd and optimisers accept it.
It is not ``cuda``: code that branches on ``device.type == "cuda"`` (bf16 autocast, CUDA
events, Lightning's GPU accelerator) takes its non-CUDA branch here, and the real GPU smoke
(``benchmarks/gpu_smoke.sh``) covers those.

The rules, as CUDA's (checked against an H200, ``tests/harness/core/test_fakegpu.py``):
- an op whose tensor inputs are on both the fake device and the CPU raises
  ``Expected all tensors to be on the same device``, except 0-dim CPU tensors (CUDA kernels
  take CPU scalars) and CPU index tensors indexing a device tensor (``x[idx]``);
- factory functions (``torch.randn(..., device=dev)``) make device tensors; with a CPU
  ``generator=`` they raise, as CUDA's ``Expected a 'cuda' device type for generator``;
- ``.numpy()`` / ``np.asarray`` on a device tensor raise; ``.item()``, ``.tolist()``, ``.cpu()``
  and ``.to("cpu")`` copy to the host as on a GPU.

Use: ``with fake_gpu() as device: ...`` (the device is ``torch.device("fakegpu", 0)``).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

NAME = "fakegpu"

_aten = torch.ops.aten
#: ops that move data between devices: any mix of devices is their job
_COPIES = {_aten._to_copy.default, _aten.copy_.default, _aten._copy_from.default,
           _aten._copy_from_and_resize.default, _aten.lift_fresh.default}
#: indexing a device tensor with CPU index tensors is allowed on CUDA (the indices are copied)
_INDEXING = {_aten.index.Tensor, _aten.index_put.default, _aten.index_put_.default,
             _aten._index_put_impl_.default, _aten._unsafe_index.Tensor}


def enable() -> torch.device:
    """Register the fake device once per process; returns ``torch.device("fakegpu", 0)``.

    Call it before the process's first backward pass (a test suite: in its conftest): autograd
    sizes its per-device queues once, at its first use, and a device registered later has none.
    """
    current = torch._C._get_privateuse1_backend_name()
    if current != NAME:
        if current != "privateuseone":
            raise RuntimeError(f"the privateuse1 backend is already '{current}'; the fake GPU needs it")
        from torch.utils.backend_registration import _DummyBackendModule, _setup_privateuseone_for_python_backend

        class Backend(_DummyBackendModule):
            """``torch.fakegpu``: what torch asks a device module for (autocast's supported dtypes)."""

            @staticmethod
            def get_amp_supported_dtype() -> list[torch.dtype]:
                return [torch.float16, torch.bfloat16]

        _setup_privateuseone_for_python_backend(NAME, backend_module=Backend())
        _register_backend_kernels()
    return torch.device(NAME, 0)


_LIBRARY: torch.library.Library | None = None


def _register_backend_kernels() -> None:
    """Kernels for the few ops PyTorch runs with Python dispatch switched off (building a tensor
    from Python data on a device: ``torch.tensor(..., device=)``, ``x[[1, 2]]``): they allocate on the
    fake device and copy into it, so those paths make fake tensors as they make GPU ones."""
    global _LIBRARY
    lib = torch.library.Library("aten", "IMPL")  # noqa: TOR901 - kept alive below

    def empty_strided(size, stride, dtype=None, layout=None, device=None, pin_memory=None):
        return FakeGPUTensor(torch.empty_strided(size, stride, dtype=dtype, device="cpu"))

    def empty(size, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
        return FakeGPUTensor(torch.empty(size, dtype=dtype, device="cpu",
                                         memory_format=memory_format or torch.contiguous_format))

    def copy_(dst, src, non_blocking=False):
        (dst.elem if is_fake(dst) else dst).copy_(src.elem if is_fake(src) else src)
        return dst

    lib.impl("empty_strided", empty_strided, "PrivateUse1")
    lib.impl("empty.memory_format", empty, "PrivateUse1")
    lib.impl("copy_", copy_, "PrivateUse1")
    _LIBRARY = lib


def _check_autograd(device: torch.device) -> None:
    """A clear error instead of autograd's internal assert when `enable` came too late."""
    with FakeGPUMode():
        x = torch.ones((), device=device, requires_grad=True)
        try:
            (x * 2).backward()
        except RuntimeError as exc:
            if "device_ready_queues_" not in str(exc):
                raise
            raise RuntimeError("the fake GPU was registered after this process's first backward pass; call "
                               "harness.core.fakegpu.enable() first (in a test suite: in conftest.py)") from None


#: ops run on the fake device so far in this process: a test's proof that a plug-in's work
#: reached the device (Lightning once kept a module it did not know the device of on the CPU)
ops_run = 0


def is_fake(t: Any) -> bool:
    return isinstance(t, FakeGPUTensor)


class FakeGPUTensor(torch.Tensor):
    """A tensor on the fake device: ``elem`` holds its values on the CPU."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor) -> "FakeGPUTensor":
        out = torch.Tensor._make_wrapper_subclass(
            cls, elem.size(), strides=elem.stride(), storage_offset=elem.storage_offset(), dtype=elem.dtype,
            layout=elem.layout, device=torch.device(NAME, 0), requires_grad=elem.requires_grad)
        out.elem = elem
        return out

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})

    def __repr__(self) -> str:  # noqa: D105
        return f"FakeGPUTensor({self.elem!r}, device='{NAME}:0')"

    def tolist(self):  # a GPU tensor's tolist() copies to the host
        return self.elem.tolist()

    def numpy(self, *, force: bool = False):
        raise TypeError(f"can't convert {NAME}:0 device type tensor to numpy. Use Tensor.cpu() to copy the "
                        "tensor to host memory first.")

    def __array__(self, dtype=None, copy=None):
        return self.numpy()

    def __reduce_ex__(self, proto):
        # saved as its CPU values: loading gives a CPU tensor, as torch.load(map_location="cpu") of a GPU one
        return self.elem.__reduce_ex__(proto)


def _device_of(value: Any) -> torch.device | None:
    if value is None:
        return None
    return torch.device(value) if isinstance(value, (str, int, torch.device)) else None


def _mismatch(func, tensors: list[torch.Tensor]) -> str | None:
    """The error CUDA would raise for these inputs of `func`, or None."""
    fake = [t for t in tensors if is_fake(t)]
    host = [t for t in tensors if not is_fake(t) and t.device.type == "cpu" and t.dim() > 0]
    if not fake or not host:
        return None
    if func in _INDEXING and is_fake(tensors[0]) and all(t.dtype in (torch.long, torch.int, torch.bool)
                                                         for t in host):
        return None
    return (f"Expected all tensors to be on the same device, but found at least two devices, {NAME}:0 and cpu! "
            f"(when checking argument for {func})")


def _dispatch(func, args: tuple, kwargs: dict):
    flat, _ = tree_flatten((args, kwargs))
    tensors = [x for x in flat if isinstance(x, torch.Tensor)]
    devices = [x for x in flat if isinstance(x, torch.device)]  # factory `device=`, `aten.to.device`'s target
    target = devices[0] if devices else None
    on_fake = any(is_fake(t) for t in tensors)
    if (target is None or target.type != NAME) and not on_fake:
        return func(*args, **kwargs)  # host-only work passes through untouched
    if func not in _COPIES:
        problem = _mismatch(func, tensors)
        if problem:
            raise RuntimeError(problem)
    to_fake = (target.type == NAME) if target is not None else on_fake
    global ops_run
    ops_run += 1
    if kwargs.get("generator") is not None and to_fake:
        raise RuntimeError(f"Expected a '{NAME}' device type for generator but found 'cpu'")
    inputs: dict[int, FakeGPUTensor] = {}

    def unwrap(x):
        if is_fake(x):
            inputs[id(x.elem)] = x
            return x.elem
        if isinstance(x, torch.device) and x.type == NAME:
            return torch.device("cpu")
        return x

    out = func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs))
    if func is _aten.copy_.default and not is_fake(args[0]):
        return out  # a copy into a host tensor stays on the host

    def wrap(x):
        if not isinstance(x, torch.Tensor) or not to_fake or is_fake(x):
            return x
        same = inputs.get(id(x))  # in-place ops return their input: hand back its wrapper
        return same if same is not None else FakeGPUTensor(x)

    return tree_map(wrap, out)


class _FunctionMode(TorchFunctionMode):
    """What the dispatch level cannot see or cannot wrap:

    - ``torch.tensor(data, device=dev)`` and kin build their CPU tensor with Python dispatch
      switched off: make it on the CPU, then copy it over (what they do for a GPU);
    - other tensor subclasses (torchvision's ``Image``/``Mask`` in anomalib's batches) re-wrap
      every result as their own type, which a fake tensor cannot take: on their way to the fake
      device they travel as plain tensors (their values and shapes unchanged)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FROM_DATA:
            device = _device_of(kwargs.get("device"))
            if func is torch.Tensor.new_tensor and device is None and is_fake(args[0]):
                device = args[0].device
            if device is not None and device.type == NAME:
                host = func(*args, **{**kwargs, "device": "cpu"})
                return host.to(device).requires_grad_(host.requires_grad)
        if any(_foreign(t) for t in tree_flatten((args, kwargs))[0]) and _towards_fake(func, args, kwargs):
            args, kwargs = tree_map(_plain, (args, kwargs))
        return func(*args, **kwargs)


_FROM_DATA = {torch.tensor, torch.as_tensor, torch.asarray, torch.Tensor.new_tensor}
_MOVES = {torch.Tensor.to, torch.Tensor.cuda, torch.Tensor.type_as, torch.Tensor.new_empty, torch.Tensor.new_zeros}


def _foreign(x: Any) -> bool:
    """A tensor of a subclass other than ours and nn.Parameter."""
    return isinstance(x, torch.Tensor) and type(x) not in (torch.Tensor, torch.nn.Parameter, FakeGPUTensor)


def _plain(x: Any) -> Any:
    return x.as_subclass(torch.Tensor) if _foreign(x) else x


def _towards_fake(func, args: tuple, kwargs: dict) -> bool:
    """Whether `func` works on or moves data to the fake device."""
    flat = tree_flatten((args, kwargs))[0]
    if any(is_fake(x) for x in flat):
        return True
    if func is torch.Tensor.to:
        target = torch._C._nn._parse_to(*args[1:], **kwargs)[0]
        return target is not None and target.type == NAME
    target = _device_of(kwargs.get("device"))
    return func in _MOVES and target is not None and target.type == NAME


class FakeGPUMode(TorchDispatchMode):
    """Routes factory functions (``device="fakegpu"``) and every op on fake tensors through `_dispatch`."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})


@contextlib.contextmanager
def fake_gpu() -> Iterator[torch.device]:
    """Within: ``torch.device("fakegpu", 0)`` is a working device whose tensors compute on the CPU.

    Module moves make new parameters (``set_overwrite_module_params_on_conversion``), as they
    must for a tensor subclass; the setting is restored on exit.
    """
    device = enable()
    _check_autograd(device)
    overwrite = torch.__future__.get_overwrite_module_params_on_conversion()
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    as_subclass, inference_mode = torch.Tensor.as_subclass, torch.inference_mode
    torch.Tensor.as_subclass = _as_subclass
    torch.inference_mode = _InferenceAsNoGrad  # a wrapper tensor cannot be an inference tensor
    try:
        with _FunctionMode(), FakeGPUMode():
            yield device
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(overwrite)
        torch.Tensor.as_subclass, torch.inference_mode = as_subclass, inference_mode


class _InferenceAsNoGrad(torch.no_grad):
    """``torch.inference_mode`` inside `fake_gpu` (Lightning predicts under it): ``no_grad``, which
    computes the same values; inference tensors cannot wrap other tensors."""

    def __init__(self, mode: bool = True):
        super().__init__()


_AS_SUBCLASS = torch.Tensor.as_subclass


def _as_subclass(self: torch.Tensor, cls: type) -> torch.Tensor:
    """A fake tensor stays one when a library re-types it (torchvision's ``Image(t)``, anomalib's
    batch validators): it keeps its values, shape and device, not the library's tensor type."""
    if is_fake(self) and not issubclass(FakeGPUTensor, cls):
        return self
    return _AS_SUBCLASS(self, cls)
