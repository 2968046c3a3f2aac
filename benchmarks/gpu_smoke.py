"""The gpu-full grid on one built-in category, with reduced steps: what a lent GPU measures in minutes.

    bash benchmarks/gpu_smoke.sh [--pretrained SD_FOLDER] [--backbone-weights WRN50.pth] [--steps N]
    python benchmarks/gpu_smoke.py --device cpu --tiny      # the same code path on CPU, in ~2 min

`experiments/mvtec_loco.yaml` (profile gpu-full) on the built-in `pushpins` written in the MVTec
LOCO layout at 256 px, seed 0: generators none / cutpaste / copy-paste / dhdiff / twostage,
detectors frozen-seg and patchcore. Prints per job seconds and peak GPU memory, sampling images/s
per generator, and the report's metrics table.

What the machine lacks is said, never faked: the device machine reaches no network, so the SD
checkpoint (`--pretrained`, a diffusers folder) and the WideResNet-50 ImageNet weights
(`--backbone-weights`, a timm state dict) are used only when given; without them DH-Diff and
twostage train their UNets from scratch (`pretrained: null`) and the detectors use the packaged
EfficientNet-Lite0 (cpu-quick's backbone) — printed as such above the table. Timings are of this
configuration, not the paper's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GENERATORS = ["none", "cutpaste", "copy-paste", "dhdiff", "twostage"]
DETECTORS = ["frozen-seg", "patchcore"]
DIFFUSION = {"dhdiff", "twostage"}


#: what the device machine's image already holds (its KINDS.md); everything else travels as a wheel
ON_DEVICE = {"torch", "torchvision", "torchaudio", "triton", "transformers", "peft", "timm", "lightning",
             "pytorch-lightning", "torchmetrics", "lightning-utilities", "accelerate", "safetensors",
             "huggingface-hub", "tokenizers", "numpy", "scipy", "pandas", "scikit-learn", "scikit-image",
             "matplotlib", "pillow", "pyyaml", "tqdm", "tabulate", "opencv-python-headless", "statsmodels",
             "click", "requests", "jinja2", "markupsafe", "protobuf", "packaging", "filelock", "fsspec",
             "regex", "networkx", "sympy", "imageio", "tifffile", "lazy-loader", "joblib", "threadpoolctl",
             "patsy", "pyarrow", "psutil", "rich", "typer", "einops", "setuptools", "wheel", "pip",
             "typing-extensions", "six", "python-dateutil", "urllib3", "idna", "certifi", "charset-normalizer",
             "werkzeug", "markdown", "cloudpickle", "pygments", "attrs", "pyparsing", "kiwisolver",
             "contourpy", "cycler", "fonttools", "narwhals", "seaborn", "h5py", "anyio", "httpx", "h11",
             "httpcore", "sniffio", "aiohttp", "yarl", "multidict", "frozenlist", "aiosignal", "propcache",
             "aiohappyeyeballs", "xxhash", "mpmath", "nvidia-ml-py", "prometheus-client", "pluggy",
             "iniconfig", "pytest", "hypothesis", "sortedcontainers", "uvloop", "mdurl", "markdown-it-py", "hf-xet",
             "shellingham", "annotated-doc", "typing-inspect", "mypy-extensions", "wrapt", "toolz"}
#: the full MLflow's server stack is not needed to log to a sqlite store
NOT_NEEDED = {"mlflow", "gunicorn", "docker", "fastapi", "uvicorn", "starlette", "flask", "flask-cors", "huey",
              "graphene", "graphql-core", "graphql-relay", "itsdangerous", "blinker", "skops", "prettytable",
              "wcwidth", "google-auth", "pyasn1", "pyasn1-modules", "cryptography", "cffi", "pycparser",
              "imagecodecs"}  # anomalib lists it (TIFF codecs, 26 MB) but imports it nowhere; we read PNG/JPEG


def list_wheels() -> list[str]:
    """name==version for the harness's dependency closure (as installed here) not on the device."""
    import importlib.metadata as md
    import re

    from packaging.requirements import Requirement

    def norm(n: str) -> str:
        return re.sub(r"[-_.]+", "-", n.lower())

    # MLflow's client and its sqlite store, without the server stack
    seen, todo, out = set(), ["anomaly-aug-bench", "mlflow-skinny", "sqlalchemy", "alembic"], []
    while todo:
        name = todo.pop()
        if norm(name) in seen or norm(name) in NOT_NEEDED or norm(name).startswith(("nvidia-", "cuda-")):
            continue  # torch's CUDA libraries are the device's own
        seen.add(norm(name))
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        if norm(name) != "anomaly-aug-bench" and norm(name) not in ON_DEVICE:
            out.append(f"{dist.metadata['Name']}=={dist.version}")
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(out)


def _peak_mib(torch, device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--pretrained", default=None, help="diffusers Stable Diffusion folder (default: from scratch)")
    ap.add_argument("--backbone-weights", default=None, help="timm wide_resnet50_2 state dict (default: Lite0)")
    ap.add_argument("--steps", type=int, default=800, help="diffusion training steps (gpu-full: 5000)")
    ap.add_argument("--n-samples", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--tiny", action="store_true", help="CPU code-path check: 64 px, 2 steps, 4 samples")
    ap.add_argument("--out", type=Path, default=None, help="working folder (default: a temp folder)")
    ap.add_argument("--list-wheels", action="store_true", help="print the wheels the device machine needs")
    args = ap.parse_args(argv)
    if args.list_wheels:
        print("\n".join(list_wheels()))
        return 0

    import torch
    import yaml

    from harness import jobs
    from harness.config import validate_spec
    from harness.data.builtin import synthesize
    from harness.executors import local
    from harness.pipeline import run_experiment
    from harness.report import write_report

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device; use --device cpu --tiny for the code path", file=sys.stderr)
        return 2
    if args.tiny:
        args.image_size, args.steps, args.n_samples = 64, 2, 4
    work = args.out or Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    t0 = time.time()
    synthesize(work / "data", categories=["pushpins"], image_size=args.image_size, seed=0)
    print(f"data: built-in pushpins, LOCO layout, {args.image_size} px ({time.time() - t0:.0f} s)")

    spec = yaml.safe_load((ROOT / "experiments" / "mvtec_loco.yaml").read_text())
    diffusion = {"steps": args.steps, "checkpoint_every": 0, "pretrained": args.pretrained}
    if args.tiny:
        diffusion.update(resolution=32, batch_size=2, sample_steps=2, sample_batch=4, lora_rank=4)
    lite0 = args.backbone_weights is None
    detector_params = {"backbone_weights": args.backbone_weights} if not lite0 else {
        "backbone": "tf_efficientnet_lite0", "layers": ["blocks.1", "blocks.2", "blocks.4"]}
    if args.tiny:
        detector_params = {**detector_params, "input_size": 64, "max_steps": 4, "eval_every": 2}
    patchcore = dict(detector_params)
    for k in ("max_steps", "eval_every"):
        patchcore.pop(k, None)
    if lite0:
        patchcore["layers"] = ["blocks.2", "blocks.4"]
    spec.update(name="gpu-smoke", seeds=[0], device=args.device, image_size=args.image_size,
                output_dir=str(work / "run"), report={"dir": str(work / "report"), "metrics": spec["report"]["metrics"]})
    spec["datasets"] = [{"name": "mvtec_loco", "root": str(work / "data"), "categories": ["pushpins"]}]
    spec["generation"] = {"n_samples": args.n_samples, "quality_metrics": False}
    spec["generators"] = [{"name": g, "params": dict(diffusion) if g in DIFFUSION else {}} for g in GENERATORS]
    spec["detectors"] = [{"name": "frozen-seg", "params": detector_params}, {"name": "patchcore", "params": patchcore}]
    exp = validate_spec(spec, "gpu_smoke")

    timings: list[dict] = []
    sampling: dict[str, dict] = {}
    real_generate, real_detect, real_sample = local.run_generate, local.run_detect, jobs.sample_pairs

    def timed(kind, fn, name_of):
        def run(spec_, job, *rest):
            if args.device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t = time.time()
            out = fn(spec_, job, *rest)
            if args.device == "cuda":
                torch.cuda.synchronize()
            timings.append({"job": f"{kind} {name_of(job)}", "seconds": round(time.time() - t, 1),
                            "peak_gpu_mib": _peak_mib(torch, args.device)})
            return out
        return run

    def timed_sample(generator, data, n, seed):
        t = time.time()
        pairs = real_sample(generator, data, n, seed)
        dt = time.time() - t
        sampling[generator.name] = {"images": len(pairs), "seconds": round(dt, 2),
                                    "images_per_s": round(len(pairs) / dt, 2) if dt > 0 else None}
        return pairs

    local.run_generate = timed("generate", real_generate, lambda j: j.generator.key)
    local.run_detect = timed("detect", real_detect, lambda j: f"{j.key.generator} → {j.key.detector}")
    jobs.sample_pairs = timed_sample
    try:
        summary = run_experiment(exp, show_progress=False, echo=print)
    finally:
        local.run_generate, local.run_detect, jobs.sample_pairs = real_generate, real_detect, real_sample

    print()
    print(f"device: {args.device} ({torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU'}); "
          f"diffusion backbone: {args.pretrained or 'from scratch (no SD checkpoint given)'}; "
          f"detector backbone: {'EfficientNet-Lite0 (packaged; not gpu-full WRN-50)' if lite0 else args.backbone_weights}")
    print(f"{'job':<44} {'seconds':>8} {'peak GPU MiB':>13}")
    for t in timings:
        peak = "–" if t["peak_gpu_mib"] is None else f"{t['peak_gpu_mib']:.0f}"
        print(f"{t['job']:<44} {t['seconds']:>8.1f} {peak:>13}")
    print("sampling: " + "; ".join(f"{g} {s['images']} pairs in {s['seconds']} s = {s['images_per_s']} images/s"
                                   for g, s in sampling.items()))
    write_report(exp.run_dir, exp.report_dir, title="gpu-smoke", metrics=exp.report.metrics,
                 generator_order=GENERATORS, detector_order=DETECTORS)
    md = (exp.report_dir / "results.md").read_text()
    for section in ("## Detectors trained", "## One-class references"):
        if section in md:
            print(section + md.split(section)[1].split("\n## ")[0].rstrip())
    (work / "smoke.json").write_text(json.dumps({"timings": timings, "sampling": sampling,
                                                 "wall_s": round(time.time() - t0, 1)}, indent=1))
    print(f"wall: {time.time() - t0:.0f} s; {summary.finished} cells, {len(summary.failed)} failed; figures in {work}")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
