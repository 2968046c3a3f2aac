"""Where one grid cell's time goes, stage by stage: a DH-Diff fit + sample and a frozen-seg cell.

    python benchmarks/gpu_profile.py                       # CPU, the quick demo's sizes (cpu-quick, 128 px)
    python benchmarks/gpu_profile.py --device cuda         # a GPU, gpu-full at 256 px (from scratch, no SD)
    python benchmarks/gpu_profile.py --device cuda --precision-check   # + DH-Diff steps/s in fp32 vs bf16

One grid through `run_experiment` (built-in pushpins in the MVTec LOCO layout, seed 0, generator
dhdiff → detector frozen-seg, the local executor), with every stage of `benchmarks/stages.py`
timed exclusively: data decode/resize, feature extraction, detector training and predict, the
diffusion training steps, sampling, generation quality, detection metrics, file writing, MLflow,
the rest of the harness, and start-up (imports, data, CUDA's first call) before the grid. Prints the
table, steps/s, pairs/s, images/s and the GPU's mean utilisation during the training steps, and
writes them as JSON (`--json`).

Stage boundaries wait for the GPU, so these seconds add up to the wall time; the smoke
(`gpu_smoke.py`) times whole jobs without those waits.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

#: the sizes of each size profile: the quick demo's (CPU) and gpu-full's from-scratch (GPU)
SIZES = {
    "cpu": {"profile": "cpu-quick", "image_size": 128, "dhdiff": {"steps": 200}, "n_samples": 48,
            "frozen-seg": {}},
    "gpu": {"profile": "gpu-full", "image_size": 256, "dhdiff": {"steps": 800, "pretrained": None},
            "n_samples": 64,
            # the device machine has no network: the packaged ImageNet EfficientNet-Lite0, not WRN-50
            "frozen-seg": {"backbone": "tf_efficientnet_lite0", "layers": ["blocks.1", "blocks.2", "blocks.4"]}},
    "tiny": {"profile": "cpu-quick", "image_size": 64, "n_samples": 4,
             "dhdiff": {"steps": 4, "resolution": 16, "batch_size": 2, "sample_steps": 2, "checkpoint_every": 0},
             "frozen-seg": {"max_steps": 4, "eval_every": 2}},
}


def _device_context(name: str):
    import contextlib

    import torch

    if name == "fakegpu":
        from harness.core.fakegpu import fake_gpu

        return fake_gpu()
    return contextlib.nullcontext(torch.device(name))


def profile(device: str, size: str, work: Path, echo=print) -> dict:
    """Run the one-cell grid with stage timers; returns the figures."""
    import torch
    import yaml

    from harness.config import ExperimentSpec, validate_spec
    from harness.data.builtin import synthesize
    from harness.pipeline import run_experiment
    from stages import GpuMonitor, StageTimer

    try:
        from harness.core.device import fast_math, synchronize
    except ImportError:  # a checkout from before the device contract (the "before" column): CPU only
        def fast_math(dev): return None
        def synchronize(dev): return None

    cfg = SIZES[size]
    with _device_context(device) as dev:
        fast_math(dev)
        if dev.type == "cuda":
            torch.zeros(1, device=dev).sum().item()  # CUDA's context, part of start-up
        import anomalib.models  # noqa: F401 - imports are start-up, not the first job's fit
        import diffusers  # noqa: F401
        from diffusers import DDPMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel  # noqa: F401
        synthesize(work / "data", categories=["pushpins"], image_size=cfg["image_size"], seed=0)
        startup = time.perf_counter() - T0
        spec = yaml.safe_load((ROOT / "experiments" / "mvtec_loco.yaml").read_text())
        spec.update(name="profile", profile=cfg["profile"], seeds=[0], image_size=cfg["image_size"], device="auto",
                    output_dir=str(work / "run"), datasets=[{"name": "mvtec_loco", "root": str(work / "data"),
                                                             "categories": ["pushpins"]}],
                    generation={"n_samples": cfg["n_samples"], "quality_metrics": False},
                    generators=[{"name": "dhdiff", "params": cfg["dhdiff"]}],
                    detectors=[{"name": "frozen-seg", "params": cfg["frozen-seg"]}])
        spec["report"] = {"metrics": ["image_auroc", "pixel_ap"]}
        exp = validate_spec(spec, "gpu_profile")
        resolved = getattr(ExperimentSpec, "resolved_device", None)
        ExperimentSpec.resolved_device = lambda self: str(dev)  # the fake GPU is no spec value
        monitor = GpuMonitor(dev.index or 0) if dev.type == "cuda" else None
        timer = StageTimer(sync=lambda: synchronize(dev)).install()
        try:
            t = time.perf_counter()
            summary = run_experiment(exp, show_progress=False, echo=lambda m: None)
            wall = time.perf_counter() - t
        finally:
            timer.uninstall()
            if resolved is None:
                del ExperimentSpec.resolved_device
            else:
                ExperimentSpec.resolved_device = resolved
            if monitor is not None:
                monitor.stop()
    rows = [("start-up (imports, data, CUDA init)", startup, 1), *timer.table(wall)]
    total = startup + wall
    steps = cfg["dhdiff"].get("steps", 300)
    train_s = timer.seconds.get("diffusion training steps", 0.0)
    sample_s = timer.seconds.get("sampling", 0.0)
    figures = {
        "device": str(dev) if device != "cuda" else torch.cuda.get_device_name(), "size": size,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "stages": [{"stage": s, "seconds": round(v, 2), "share": round(v / total, 3), "calls": c} for s, v, c in rows],
        "total_s": round(total, 1), "failed": summary.failed,
        "dhdiff_steps_per_s": round(steps / train_s, 2) if train_s else None,
        "sampling_pairs_per_s": round(cfg["n_samples"] / sample_s, 2) if sample_s else None,
    }
    if monitor is not None:
        figures["gpu_util_mean_%"] = monitor.mean(T0, time.perf_counter())
    echo(f"stage profile: {figures['device']}, {size} sizes ({cfg['profile']}, {cfg['image_size']} px, "
         f"DH-Diff {steps} steps, {cfg['n_samples']} pairs), torch {torch.__version__}, "
         f"{torch.get_num_threads()} threads")
    echo(f"{'stage':<40} {'seconds':>8} {'share':>6} {'calls':>6}")
    for r in figures["stages"]:
        echo(f"{r['stage']:<40} {r['seconds']:>8.2f} {r['share']:>6.1%} {r['calls']:>6}")
    echo(f"{'total':<40} {figures['total_s']:>8.1f}")
    echo(f"DH-Diff training: {figures['dhdiff_steps_per_s']} steps/s; sampling: {figures['sampling_pairs_per_s']} pairs/s"
         + (f"; mean GPU utilisation {figures.get('gpu_util_mean_%')} %" if monitor is not None else ""))
    if summary.failed:
        echo("FAILED: " + "; ".join(summary.failed))
    return figures


def precision_check(device: str, echo=print, steps: int = 60) -> dict:
    """DH-Diff gpu-full (from scratch, 256 px) training steps/s and GPU utilisation in fp32 and bf16."""
    import numpy as np
    import torch

    from harness.core.toydata import toy_normals, toy_pairs
    from harness.core import RunContext
    from harness.core.device import synchronize
    from harness.core.registry import GENERATORS
    from stages import GpuMonitor

    dev = torch.device(device)
    normals, pairs = toy_normals(24, 256), toy_pairs(12, 256)
    out = {}
    monitor = GpuMonitor(dev.index or 0) if dev.type == "cuda" else None
    for precision in ("fp32", "bf16"):
        gen = GENERATORS.get("dhdiff")({"pretrained": None, "steps": steps, "checkpoint_every": 0,
                                        "precision": precision},
                                       RunContext("toy", 256, "gpu-full", dev, Path(tempfile.mkdtemp()),
                                                  show_progress=False))
        synchronize(dev)
        t = time.perf_counter()
        gen.fit(normals, pairs, seed=0)
        synchronize(dev)
        dt = time.perf_counter() - t
        util = monitor.mean(t, time.perf_counter()) if monitor else None
        out[precision] = {"steps_per_s": round(steps / dt, 2), "final_loss": round(float(np.mean(gen.train_losses[-10:])), 4),
                          "gpu_util_%": util, "peak_mib": round(torch.cuda.max_memory_allocated(dev) / 2**20)
                          if dev.type == "cuda" else None}
        echo(f"DH-Diff gpu-full from scratch, {precision}: {steps} steps in {dt:.1f} s (setup included) = "
             f"{out[precision]['steps_per_s']} steps/s, mean GPU utilisation {util} %, "
             f"loss (last 10) {out[precision]['final_loss']}")
    if monitor is not None:
        monitor.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "fakegpu"])
    ap.add_argument("--size", default=None, choices=sorted(SIZES), help="default: gpu on cuda, else cpu")
    ap.add_argument("--precision-check", action="store_true", help="also DH-Diff steps/s in fp32 vs bf16")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (the quick demo's 1)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    size = args.size or ("gpu" if args.device == "cuda" else "cpu")
    work = Path(tempfile.mkdtemp(prefix="gpu-profile-"))
    figures = profile(args.device, size, work)
    if args.precision_check:
        figures["precision"] = precision_check(args.device)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 1 if figures["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
