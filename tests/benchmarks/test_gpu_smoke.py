"""The GPU smoke installs itself on a bare GPU machine: the device image's packages
(`gpu_smoke.DEVICE_IMAGE`) plus the wheels `gpu_smoke.py --list-wheels` names import everything
the smoke imports, and run a small grid with MLflow's sqlite store, in an interpreter that sees
nothing else. The first lent H200 met exactly this gap (no entry points; MLflow's runtime imports
of fastapi/starlette/cryptography missing)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*(ROOT / "harness").rglob("*.py"), *(ROOT / "generators").rglob("*.py"), *(ROOT / "detectors").rglob("*.py"),
           ROOT / "benchmarks" / "gpu_smoke.py", ROOT / "benchmarks" / "stages.py", ROOT / "benchmarks" / "gpu_profile.py"]
#: imports the smoke never reaches, each with why (everything else the project imports must import)
NOT_ON_THE_SMOKE_PATH = {
    "ray": "the Ray executor; the smoke runs the local one",
}


def _smoke_module():
    spec = importlib.util.spec_from_file_location("gpu_smoke", ROOT / "benchmarks" / "gpu_smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _optional(tree: ast.AST) -> set[int]:
    """Line numbers of imports inside ``try: ... except ImportError`` (optional dependencies)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError", "Exception")
                or isinstance(h.type, ast.Tuple) and any(getattr(e, "id", "") == "ImportError" for e in h.type.elts)
                for h in node.handlers):
            for inner in node.body:
                lines |= {n.lineno for n in ast.walk(inner) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return lines


def project_imports() -> list[str]:
    """Every absolute module the project's code and the smoke import, at module level or lazily."""
    names: set[str] = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text())
        optional = _optional(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in optional:
                continue
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    local = {"harness", "generators", "detectors", "stages", "gpu_smoke", "gpu_profile", "__future__"}
    return sorted(n for n in names if n.split(".")[0] not in local | set(NOT_ON_THE_SMOKE_PATH))


def _norm(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name.lower())


def restricted_site(folder: Path, allowed: set[str]) -> Path:
    """`folder` holding links to the files of the installed distributions named in `allowed` only."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in md.distributions():
        base = Path(dist.locate_file(""))
        if _norm(dist.metadata["Name"]) not in allowed or base.resolve() == ROOT:  # not the checkout's egg-info
            continue
        for entry in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source, target = base / entry, folder / entry
            if source.exists() and not target.exists() and not entry.endswith(".pth"):
                target.symlink_to(source)
    return folder


@pytest.mark.slow
def test_the_smokes_wheels_and_the_device_image_import_and_run_everything_the_smoke_needs(tmp_path):
    smoke = _smoke_module()
    wheels = {_norm(w.split("==")[0]) for w in smoke.list_wheels()}
    assert {"anomalib", "diffusers", "mlflow-skinny", "fastapi", "starlette", "cryptography", "cffi"} <= wheels
    allowed = {_norm(n) for n in smoke.DEVICE_IMAGE} | wheels | {"anomaly-aug-bench"}
    site = restricted_site(tmp_path / "site", allowed)
    for package in ("harness", "generators", "detectors"):  # the project's code, as its wheel installs it
        (site / package).symlink_to(ROOT / package)
    modules = project_imports()
    assert "mlflow" in modules and "diffusers" in modules and "anomalib.models" in modules
    code = textwrap.dedent(f"""
        import importlib, importlib.metadata as md, sys, tempfile
        from pathlib import Path
        assert md.entry_points(group="bench.generators"), "no entry points: the project's own wheel is missing"
        missing = []
        for name in {modules!r}:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                missing.append(f"{{name}}: {{exc}}")
        assert not missing, "\\n".join(missing)
        import yaml
        from harness.config import validate_spec
        from harness.data.builtin import synthesize
        from harness.pipeline import run_experiment
        from harness.report import write_report
        work = Path(tempfile.mkdtemp())
        synthesize(work / "data", categories=["pushpins"], image_size=64, seed=0)
        tiny = dict(resolution=16, steps=2, batch_size=2, sample_steps=2, sample_batch=4, checkpoint_every=0,
                    block_channels=[16, 32], attention_levels=1, attention_heads=2, cross_attention_dim=16, pretrained=None)
        spec = yaml.safe_load(open({str(ROOT / "experiments" / "mvtec_loco.yaml")!r}))
        spec.update(name="closure", seeds=[0], image_size=64, device="cpu", output_dir=str(work / "run"),
                    datasets=[{{"name": "mvtec_loco", "root": str(work / "data"), "categories": ["pushpins"]}}],
                    generation={{"n_samples": 4, "quality_metrics": False}},
                    generators=[{{"name": "copy-paste"}}, {{"name": "dhdiff", "params": tiny}}],
                    detectors=[{{"name": "frozen-seg", "params": {{"backbone": "tf_efficientnet_lite0",
                                 "layers": ["blocks.1", "blocks.2", "blocks.4"], "max_steps": 2, "eval_every": 1}}}},
                               {{"name": "patchcore", "params": {{"backbone": "tf_efficientnet_lite0",
                                 "layers": ["blocks.2", "blocks.4"], "input_size": 64}}}}])
        spec["report"] = {{"dir": str(work / "report"), "metrics": ["image_auroc", "pixel_ap"]}}
        exp = validate_spec(spec, "closure")
        summary = run_experiment(exp, show_progress=False, echo=lambda m: None)
        assert not summary.failed and summary.finished == 3, summary
        write_report(exp.run_dir, exp.report_dir, title="closure", metrics=exp.report.metrics)
        assert (work / "run" / "mlflow.db").is_file()
        print("closure ok")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS="1", PYTHONNOUSERSITE="1")
    res = subprocess.run([sys.executable, "-S", "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0 and "closure ok" in res.stdout, res.stderr[-4000:]
