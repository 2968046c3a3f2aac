"""Where a grid's time goes: named stages timed by wrapping the functions that do them, and the
GPU's load sampled while they run. Shared by `gpu_profile.py` and `gpu_smoke.py`.

A stage's time is *exclusive*: time spent in a stage called from inside another (decoding images
inside feature extraction) counts for the inner one only, so the rows add up to the wall time.
On CUDA each stage boundary waits for the GPU (`torch.cuda.synchronize`), so GPU work is charged
to the stage that queued it; that costs a little speed, which is why the smoke's per-job seconds
come from a run without stage timing.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections import defaultdict
from typing import Any, Callable

#: (stage, "module:attribute" or "module:Class.method") — what each stage of a cell is made of
STAGES: list[tuple[str, str]] = [
    ("data decode/resize", "harness.data.io:load_image"),
    ("data decode/resize", "harness.data.io:load_mask"),
    ("data decode/resize", "generators.diffusion.tensors:images_to_tensor"),
    ("feature extraction", "detectors.frozen_seg:FrozenExtractor.__call__"),
    ("diffusion training steps", "generators.diffusion.training:train_loop"),
    ("sampling", "harness.jobs:sample_pairs"),
    ("generation quality", "harness.jobs:_quality"),
    ("detection metrics", "harness.metrics.detection:compute_detection_metrics"),
    ("file writing", "harness.augmented:write_augmented"),
    ("file writing", "harness.cells:CellStore.save"),
    ("file writing", "harness.data.split:write_split"),
    ("MLflow", "harness.tracking:Tracker.log_cell"),
    ("MLflow", "harness.tracking:Tracker.__init__"),
]


class GpuMonitor:
    """Samples the GPU's utilisation (NVML, every `period` s) in a thread; `mean()` over a window."""

    def __init__(self, index: int = 0, period: float = 0.05):
        self.samples: list[tuple[float, int]] = []
        self.period = period
        self._stop = threading.Event()
        self._handle = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._nvml = pynvml
        except Exception as exc:  # noqa: BLE001 - no NVML: utilisation is reported as unavailable
            self.why = f"NVML unavailable ({type(exc).__name__}: {exc})"
            return
        self.why = ""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.perf_counter(), self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu))
            except Exception:  # noqa: BLE001 - a failed read is a missing sample
                pass
            time.sleep(self.period)

    def mean(self, start: float, end: float) -> float | None:
        """Mean utilisation (%) of the samples taken between `start` and `end` (perf_counter)."""
        window = [u for t, u in self.samples if start <= t <= end]
        return round(sum(window) / len(window), 1) if window else None

    def stop(self) -> None:
        self._stop.set()


class StageTimer:
    """Wraps the functions of `STAGES` (everywhere they were imported) with exclusive timers."""

    def __init__(self, sync: Callable[[], None] = lambda: None):
        self.sync = sync
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[list[float]] = []  # per open stage: [start, time spent in children]
        self._undo: list[Callable[[], None]] = []
        self._wrapped: set[tuple[type, str]] = set()

    def _wrap(self, stage: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.sync()
            frame = [time.perf_counter(), 0.0]
            self._stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self.sync()
                spent = time.perf_counter() - frame[0]
                self._stack.pop()
                self.seconds[stage] += spent - frame[1]
                self.calls[stage] += 1
                if self._stack:
                    self._stack[-1][1] += spent

        timed.__wrapped_stage__ = stage  # type: ignore[attr-defined]
        return timed

    def _wrap_method(self, stage: str, cls: type, meth: str) -> None:
        if meth not in vars(cls) or (cls, meth) in self._wrapped or getattr(vars(cls)[meth], "__isabstractmethod__", False):
            return
        self._wrapped.add((cls, meth))
        original = vars(cls)[meth]
        setattr(cls, meth, self._wrap(stage, original))
        self._undo.append(lambda c=cls, m=meth, o=original: setattr(c, m, o))

    def install(self) -> "StageTimer":
        import importlib

        from harness.core.registry import DETECTORS, GENERATORS

        for name in GENERATORS.names():  # each plug-in class's own fit (subclasses override the base's)
            for cls in GENERATORS.get(name).__mro__:
                self._wrap_method("generator fit (other)", cls, "fit")
        for name in DETECTORS.names():
            for cls in DETECTORS.get(name).__mro__:
                self._wrap_method("detector training", cls, "fit")
                self._wrap_method("detector predict", cls, "predict")
        for stage, where in STAGES:
            module_name, attr = where.split(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            if "." in attr:  # a method: patch the class
                cls_name, meth = attr.split(".")
                cls = getattr(module, cls_name, None)
                if cls is not None:
                    self._wrap_method(stage, cls, meth)
                continue
            original = getattr(module, attr, None)
            if original is None:
                continue
            wrapped = self._wrap(stage, original)
            for mod in list(sys.modules.values()):  # every `from module import attr` too
                if getattr(mod, attr, None) is original:
                    setattr(mod, attr, wrapped)
                    self._undo.append(lambda m=mod, a=attr, o=original: setattr(m, a, o))
        return self

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def table(self, wall: float) -> list[tuple[str, float, int]]:
        """(stage, seconds, calls), largest first, with the unattributed rest as "harness (other)"."""
        rows = sorted(((s, t, self.calls[s]) for s, t in self.seconds.items()), key=lambda r: -r[1])
        rows.append(("harness (other)", max(0.0, wall - sum(t for _, t, _ in rows)), 0))
        return rows
