"""A run's `torch.device` as Lightning's accelerator and devices (anomalib's `Engine` takes both).

Why: Lightning names devices its own way ("gpu" and a list of indices); ``cuda:1`` must train on
GPU 1, not on Lightning's default first GPU. A device Lightning has no accelerator for (any
other torch device, e.g. the fake GPU of the CPU tests, `harness.core.fakegpu`) gets a plain
single-device accelerator: Lightning then moves the module and every batch there, as it does
for a GPU. Private module: imported lazily by `detectors._engine`.
"""

from __future__ import annotations

from typing import Any

import torch


def _single_device_accelerator(device: torch.device):
    from lightning.pytorch.accelerators import Accelerator

    class SingleDevice(Accelerator):
        """Lightning on one device of a type it has no accelerator for."""

        def setup_device(self, device: torch.device) -> None:
            pass

        def teardown(self) -> None:
            pass

        @staticmethod
        def parse_devices(devices: Any) -> Any:
            return devices

        @staticmethod
        def get_parallel_devices(devices: Any) -> list[torch.device]:
            return [device]

        @staticmethod
        def auto_device_count() -> int:
            return 1

        @staticmethod
        def is_available() -> bool:
            return True

        @staticmethod
        def name() -> str:
            return f"single-{device.type}"

        def get_device_stats(self, device: torch.device) -> dict[str, Any]:
            return {}

    return SingleDevice()


def lightning_device(device: str | torch.device) -> dict[str, Any]:
    """The Trainer / anomalib Engine kwargs that put training and prediction on `device`."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device '{device}' requested but CUDA is not available; run with device: cpu")
        return {"accelerator": "gpu", "devices": [0 if device.index is None else device.index]}
    if device.type in ("cpu", "mps"):
        return {"accelerator": device.type, "devices": 1}
    from lightning.pytorch.strategies import SingleDeviceStrategy

    # Lightning's own strategy choice puts any accelerator it does not know on the CPU: name the device
    accelerator = _single_device_accelerator(device)
    return {"devices": 1, "strategy": SingleDeviceStrategy(device=device, accelerator=accelerator)}
