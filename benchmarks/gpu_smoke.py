"""Every plug-in of `experiments/mvtec_loco.yaml` on a GPU at reduced steps, with per-job seconds,
peak GPU memory and mean GPU utilisation: what a lent GPU checks in minutes.

    bash benchmarks/gpu_smoke.sh --fetch-wheels       # here, where PyPI is reachable: .whl/ (own wheel too)
    bash benchmarks/gpu_smoke.sh [--out DIR]          # on the bare GPU machine (the `device` tool, carry .whl)
    python benchmarks/gpu_smoke.py --device fakegpu --tiny   # the same code path on a CPU box's fake GPU
    python benchmarks/gpu_smoke.py --device cpu --tiny       # or on the CPU

Two grids on the built-in `pushpins` written in the MVTec LOCO layout (256 px, seed 0, profile
gpu-full): every generator → frozen-seg with the one-class PatchCore and PaDiM beside them, and
copy-paste → every other augmented detector (supervised-seg, SuperSimpleNet, DRAEM, GLASS). The
diffusion generators train from scratch (`pretrained: null`: the machine reaches no hub) for
`--steps` (DH-Diff; its ablations and the two-stage baseline `--short-steps`); the trained
detectors stop at `--detector-steps`; the feature detectors use the packaged ImageNet
EfficientNet-Lite0 (no WideResNet-50 offline). Timings are of this configuration, not the papers'.

Prints a line per job as it ends (kind, what, seconds, peak GPU MiB, mean GPU utilisation %),
then the metric table, and writes `smoke.json` and the DH-Diff / two-stage sample grids to `--out`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

DIFFUSION = {"dhdiff", "dhdiff-no-dda", "dhdiff-no-ssm", "twostage"}
ONE_CLASS = ["patchcore", "padim"]
#: the packaged ImageNet backbone (offline) and its layers, per detector that takes a backbone
LITE0 = {"frozen-seg": ["blocks.1", "blocks.2", "blocks.4"], "patchcore": ["blocks.2", "blocks.4"],
         "padim": ["blocks.1", "blocks.2", "blocks.4"], "supersimplenet": ["blocks.2", "blocks.4"],
         "glass": ["blocks.2", "blocks.4"]}

#: what the device machine's image holds (`/work/.library/device/KINDS.md`, read 2026-11-17);
#: everything else the smoke imports travels as a wheel (`--list-wheels`)
DEVICE_IMAGE = set("""absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core
cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers
flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib
kiwisolver lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py
markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind
narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse
nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir
onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging
pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11
py-cpuinfo pygments pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash
yarl zipp""".split())
#: what neither the smoke nor a sqlite MLflow store imports (the server stack, optional codecs);
#: `tests/benchmarks/test_gpu_smoke.py` imports everything the smoke does without them
NOT_NEEDED = {"gunicorn", "docker", "uvicorn", "flask", "flask-cors", "huey", "graphene", "graphql-core",
              "graphql-relay", "itsdangerous", "blinker", "skops", "prettytable", "wcwidth", "google-auth", "pyasn1",
              "pyasn1-modules",
              "imagecodecs"}  # anomalib lists it (TIFF codecs, 26 MB) but imports it nowhere; we read PNG/JPEG
#: imported by MLflow's client or its sqlite store at run time without being declared by mlflow-skinny
MLFLOW_RUNTIME = ["mlflow-skinny", "sqlalchemy", "alembic", "fastapi", "starlette", "cryptography"]


def _norm(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name.lower())


def list_wheels() -> list[str]:
    """name==version for the smoke's dependency closure (as installed here) that the device image lacks."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    image = {_norm(n) for n in DEVICE_IMAGE}
    seen, todo, out = set(), ["anomaly-aug-bench", *MLFLOW_RUNTIME], []
    while todo:
        name = todo.pop()
        key = _norm(name)
        if key in seen or key in _NOT_NEEDED or key.startswith(("nvidia-", "cuda-")):
            continue  # torch's CUDA libraries are the device's own
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        if key != "anomaly-aug-bench" and key not in image:
            out.append(f"{dist.metadata['Name']}=={dist.version}")
        for r in dist.requires or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return sorted(out)


_NOT_NEEDED = {_norm(n) for n in NOT_NEEDED} | {"mlflow"}  # the full mlflow: its server only


def _device_context(name: str):
    import contextlib

    import torch

    if name == "fakegpu":
        from harness.core.fakegpu import fake_gpu

        return fake_gpu()
    return contextlib.nullcontext(torch.device(name))


def _grid_spec(args, work: Path, name: str, generators: list[dict], detectors: list[dict]) -> dict:
    import yaml

    spec = yaml.safe_load((ROOT / "experiments" / "mvtec_loco.yaml").read_text())
    spec.update(name=name, seeds=[0], device="auto", image_size=args.image_size, output_dir=str(work / name),
                datasets=[{"name": "mvtec_loco", "root": str(work / "data"), "categories": ["pushpins"]}],
                generation={"n_samples": args.n_samples, "quality_metrics": False},
                generators=generators, detectors=detectors)
    spec["report"] = {"dir": str(work / "reports" / name), "metrics": spec["report"]["metrics"]}
    return spec


def _generators(args, names: list[str]) -> list[dict]:
    out = []
    for g in names:
        params: dict = {}
        if g in DIFFUSION:
            params = {"pretrained": None, "checkpoint_every": 0,
                      "steps": args.steps if g == "dhdiff" else args.short_steps}
            if args.tiny:
                params.update(resolution=32, batch_size=2, sample_steps=2, sample_batch=4, block_channels=[16, 32],
                              attention_levels=1, layers_per_block=1, attention_heads=2, cross_attention_dim=16)
        out.append({"name": g, "params": params})
    return out


def _detectors(args, names: list[str]) -> list[dict]:
    out = []
    for d in names:
        params: dict = {}
        if d in LITE0:
            params.update(backbone="tf_efficientnet_lite0", layers=LITE0[d])
        if d in ("supervised-seg", "supersimplenet", "draem", "glass"):
            params.update(max_steps=args.detector_steps, eval_every=max(1, args.detector_steps // 3))
        if d == "glass":
            params.update(embed_dim=152, discriminator_hidden=256)
        if args.tiny:
            params.update(input_size=128 if d == "supersimplenet" else 64)
            if d in ("supervised-seg", "draem"):
                params.update({"base_width": 8} if d == "supervised-seg" else {"recon_width": 8, "disc_width": 8})
            if d == "frozen-seg":
                params.update(max_steps=4, eval_every=2)
        elif d == "frozen-seg":
            params.update(max_steps=args.frozen_seg_steps, eval_every=max(1, min(100, args.frozen_seg_steps // 5)))
        out.append({"name": d, "params": params})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu", "fakegpu"])
    # defaults sized by the H200's per-job figures of 2026-12-04 (docs/scaling.md): ~0.30 s a DH-Diff
    # step at 256 px, ~22 s a frozen-seg cell; a whole-category smoke at the papers' steps is hours
    ap.add_argument("--steps", type=int, default=300, help="DH-Diff training steps (gpu-full: 5000 with SD)")
    ap.add_argument("--short-steps", type=int, default=100, help="steps of the ablations and the two-stage baseline")
    ap.add_argument("--detector-steps", type=int, default=200, help="steps of the trained detectors but frozen-seg")
    ap.add_argument("--frozen-seg-steps", type=int, default=500, help="frozen-seg's max_steps (gpu-full: 4000, early-stopped)")
    ap.add_argument("--n-samples", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--tiny", action="store_true", help="code path only: 64 px, 2 steps, 4 samples, tiny networks")
    ap.add_argument("--out", type=Path, default=None, help="where smoke.json and the sample grids go")
    ap.add_argument("--list-wheels", action="store_true", help="print the wheels the device machine needs")
    args = ap.parse_args(argv)
    if args.list_wheels:
        print("\n".join(list_wheels()))
        return 0

    import torch

    from harness.config import ExperimentSpec, validate_spec
    from harness.core.device import fast_math, peak_memory_mib, reset_peak_memory, synchronize
    from harness.data.builtin import synthesize
    from harness import jobs as job_fns  # the jobs' own functions: timed on any executor
    from harness.pipeline import run_experiment
    from harness.report import write_report
    from stages import GpuMonitor

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: no CUDA device here; use --device fakegpu --tiny (or cpu) for the code path", file=sys.stderr)
        return 2
    if args.tiny:
        args.image_size, args.steps, args.short_steps, args.n_samples, args.detector_steps = 64, 2, 2, 4, 2
    work = Path(tempfile.mkdtemp(prefix="gpu-smoke-"))
    out = args.out or work
    out.mkdir(parents=True, exist_ok=True)
    log_lines: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        log_lines.append(line)

    with _device_context(args.device) as dev:
        fast_math(dev)
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev)
        say(f"device: {name}; torch {torch.__version__}; diffusion backbones from scratch (no SD checkpoint "
            "offline); feature detectors on the packaged EfficientNet-Lite0 (not gpu-full's WRN-50)")
        synthesize(work / "data", categories=["pushpins"], image_size=args.image_size, seed=0)
        say(f"start-up (imports, CUDA, data at {args.image_size} px): {time.perf_counter() - T0:.1f} s")
        monitor = GpuMonitor(dev.index or 0) if dev.type == "cuda" else None
        jobs: list[dict] = []
        real_generate, real_detect = job_fns.run_generate, job_fns.run_detect

        def timed(kind: str, fn, label):
            def run(spec_, job, *rest):
                synchronize(dev)
                reset_peak_memory(dev)
                t = time.perf_counter()
                ok = "ok"
                try:
                    return fn(spec_, job, *rest)
                except Exception:
                    ok = "FAILED"
                    raise
                finally:
                    synchronize(dev)
                    end = time.perf_counter()
                    rec = {"job": f"{kind} {label(job)}", "seconds": round(end - t, 1), "peak_gpu_mib":
                           None if peak_memory_mib(dev) is None else round(peak_memory_mib(dev)),
                           "gpu_util_%": monitor.mean(t, end) if monitor else None, "status": ok}
                    jobs.append(rec)
                    say(f"{rec['job']:<46} {rec['seconds']:>7.1f} s  peak {rec['peak_gpu_mib'] or '-':>6} MiB  "
                        f"util {rec['gpu_util_%'] if rec['gpu_util_%'] is not None else '-':>5} %  {ok}")
            return run

        job_fns.run_generate = timed("generate", real_generate, lambda j: j.generator.key)
        job_fns.run_detect = timed("detect", real_detect,
                                 lambda j: f"{j.key.generator} → {j.key.detector}")
        resolved = ExperimentSpec.resolved_device
        ExperimentSpec.resolved_device = lambda self: str(dev)  # the fake GPU is no spec value
        spec = _load_spec()
        spec_gens, spec_dets = [g["name"] for g in spec["generators"]], [d["name"] for d in spec["detectors"]]
        trained = [d for d in spec_dets if d not in ("frozen-seg", *ONE_CLASS)]
        grids = {"smoke-generators": (spec_gens, ["frozen-seg", *ONE_CLASS]), "smoke-detectors": (["copy-paste"], trained)}
        failed: list[str] = []
        tables = {}
        try:
            for grid, (gens, dets) in grids.items():
                exp = validate_spec(_grid_spec(args, work, grid, _generators(args, gens), _detectors(args, dets)), grid)
                try:
                    summary = run_experiment(exp, show_progress=False, echo=lambda m: None)
                except Exception:  # noqa: BLE001 - the smoke reports, it does not stop
                    failed.append(f"{grid}: {traceback.format_exc()}")
                    continue
                failed += summary.failed
                write_report(exp.run_dir, exp.report_dir, title=grid, metrics=exp.report.metrics,
                             generator_order=gens, detector_order=dets)
                tables[grid] = (exp.report_dir / "results.md").read_text()
        finally:
            job_fns.run_generate, job_fns.run_detect = real_generate, real_detect
            ExperimentSpec.resolved_device = resolved
            if monitor is not None:
                monitor.stop()
    for grid, md in tables.items():
        say(f"\n## {grid}")
        for section in ("## Detectors trained", "## One-class references"):
            if section in md:
                say(section + md.split(section)[1].split("\n## ")[0].rstrip())
    for g in ("dhdiff", "twostage"):
        for grid_png in sorted((work / "smoke-generators" / "augmented").rglob(f"{g}/*/grid.png"))[:1]:
            shutil.copy(grid_png, out / f"grid_{g}.png")
    wall = time.perf_counter() - T0
    (out / "smoke.json").write_text(json.dumps({"device": name, "jobs": jobs, "failed": failed, "wall_s": round(wall, 1),
                                                "args": {k: str(v) for k, v in vars(args).items()}}, indent=1))
    (out / "smoke.log").write_text("\n".join(log_lines) + "\n")
    say(f"wall: {wall:.0f} s; {len(jobs)} jobs, {len(failed)} failed cells; files in {out}")
    for f in failed:
        say(f"FAILED: {f}")
    return 1 if failed else 0


def _load_spec() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "experiments" / "mvtec_loco.yaml").read_text())


if __name__ == "__main__":
    raise SystemExit(main())
