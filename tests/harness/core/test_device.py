"""The run's device is decided once, with a clear error, and seeded draws land where they are asked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core import RunContext
from harness.core.device import (
    DeviceUnavailable, as_tensor, autocast, generator, rand, randint, randn, resolve_device, to_numpy, use_bf16,
)
from harness.core.fakegpu import fake_gpu


def test_auto_is_the_gpu_where_there_is_one_else_the_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_one_line_with_the_fix():
    with pytest.raises(DeviceUnavailable, match="CUDA is not available on this machine.*set device: cpu or auto"):
        resolve_device("cuda")


def test_a_gpu_the_machine_lacks_or_a_non_device_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceUnavailable, match="has 2 GPU"):
        resolve_device("cuda:2")
    with pytest.raises(DeviceUnavailable, match="not a device"):
        resolve_device("gpu0")


def test_run_context_holds_a_torch_device():
    assert RunContext("c", 32, device="cpu").device == torch.device("cpu")
    assert RunContext("c", 32, device=torch.device("cpu")).device.type == "cpu"


def test_cpu_draws_are_the_plain_generator_draws():
    """CPU runs keep the numbers every earlier run drew."""
    g1, g2 = generator(3, "cpu"), torch.Generator().manual_seed(3)
    assert torch.equal(randn((2, 3), g1, "cpu"), torch.randn((2, 3), generator=g2))
    assert torch.equal(rand((4,), g1, "cpu"), torch.rand((4,), generator=g2))
    assert torch.equal(randint(0, 9, (5,), g1, "cpu"), torch.randint(0, 9, (5,), generator=g2))


def test_draws_for_a_device_without_generators_are_made_on_the_host_and_moved():
    with fake_gpu() as dev:
        g = generator(3, dev)
        assert g.device.type == "cpu"
        x, i = randn((2, 3), g, dev), randint(0, 9, (5,), g, dev)
        assert x.device == dev and i.device == dev
        ref = torch.Generator().manual_seed(3)
        assert torch.equal(x.cpu(), torch.randn((2, 3), generator=ref))
        t = as_tensor(np.arange(3), dev)
        assert t.device == dev and to_numpy(t).tolist() == [0, 1, 2]


def test_bf16_only_where_asked_or_on_cuda():
    assert not use_bf16("cpu", "auto") and use_bf16("cuda", "auto") and use_bf16("cpu", "bf16")
    assert not use_bf16("cuda", "fp32")
    with autocast("cpu", "auto"):
        assert not torch.is_autocast_enabled("cpu")
    with autocast("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu")
