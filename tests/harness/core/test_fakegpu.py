"""The fake GPU raises where CUDA raises, computes what the CPU computes, and carries whole
training loops (modules, autograd, optimisers, saving) the way a GPU does."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from harness.core.fakegpu import fake_gpu, is_fake


def test_mixing_a_host_tensor_into_device_arithmetic_raises_as_on_cuda():
    with fake_gpu() as dev:
        x = torch.randn(4, device=dev)
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
            x + torch.ones(4)
        with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
            torch.where(torch.ones(4, dtype=torch.bool), x, x)  # the CPU flip mask of issue 28
        with pytest.raises(RuntimeError, match="same device"):
            torch.cat([x, torch.zeros(2)])


def test_what_cuda_allows_is_allowed():
    with fake_gpu() as dev:
        x = torch.arange(6.0, device=dev)
        assert (x * torch.tensor(2.0)).device == dev  # a 0-dim host tensor is a scalar argument
        assert x[torch.tensor([0, 2])].tolist() == [0.0, 2.0]  # host indices into a device tensor
        assert x[[1, 3]].tolist() == [1.0, 3.0]
        assert torch.tensor([1, 2], device=dev).device == dev
        y = torch.zeros(3)
        y.copy_(x[:3])  # device → host copy
        assert y.tolist() == [0.0, 1.0, 2.0] and y.device.type == "cpu"
        assert x.cpu().device.type == "cpu" and x.to("cpu").device.type == "cpu" and x.sum().item() == 15.0


def test_host_only_views_of_device_data_raise():
    with fake_gpu() as dev:
        x = torch.ones(3, device=dev)
        with pytest.raises(TypeError, match="Use Tensor.cpu"):
            x.numpy()
        with pytest.raises(TypeError, match="Use Tensor.cpu"):
            np.asarray(x)


def test_device_noise_from_a_host_generator_raises_as_on_cuda():
    with fake_gpu() as dev:
        with pytest.raises(RuntimeError, match="device type for generator"):
            torch.randn(3, generator=torch.Generator().manual_seed(0), device=dev)


def test_values_are_the_cpus_and_training_works():
    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1))
    data = torch.randn(2, 3, 8, 8)

    def train(model, x):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for _ in range(3):
            loss = model(x).square().mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(model.parameters()), 1.0)
            opt.step()
        return model(x).detach()

    on_cpu = train(copy.deepcopy(ref), data)
    with fake_gpu() as dev:
        model = copy.deepcopy(ref).to(dev)
        assert all(is_fake(p) and p.device == dev for p in model.parameters())
        out = train(model, data.to(dev))
        assert out.device == dev
        # the CPU's values up to float rounding: AdamW takes its foreach path on a non-CPU device, and
        # kernels may sum in another order (bit-identical alone, ~6e-8 apart after other tests in CI)
        torch.testing.assert_close(out.cpu(), on_cpu, rtol=1e-5, atol=1e-6)
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)  # saved as host values, loadable anywhere
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=True)
        assert all(v.device.type == "cpu" for v in loaded.values())
        with pytest.raises(RuntimeError, match="same device"):
            model(data)  # a host batch into a device model


def test_the_module_setting_is_restored():
    before = torch.__future__.get_overwrite_module_params_on_conversion()
    with fake_gpu():
        pass
    assert torch.__future__.get_overwrite_module_params_on_conversion() == before
    assert torch.inference_mode.__name__ == "inference_mode"
