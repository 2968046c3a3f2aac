"""`bench run experiments/mvtec_loco.yaml` — the gpu-full profile users run — end to end on CPU.

A code-path test, not a measurement: tiny overrides (64 px, 2 diffusion steps, 4 samples), the
built-in procedural set written in the MVTec LOCO layout and read by the `mvtec_loco` adapter,
the Stable Diffusion checkpoint replaced by the tiny random SD folder (`tiny_sd`), and the
detectors' ImageNet backbones (WideResNet-50-2, ResNet-18) replaced by *random* state dicts handed
in through `backbone_weights` — the offline mechanism users have, so the real loading code runs.
Every generator and every detector of the spec runs at least once (two grids: every generator
with frozen-seg, and every detector on cutpaste's set; the full cross product would cost 52
detector trainings for no new code path). Everything else is the spec's gpu-full profile.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner

from harness.cli import main

SPEC = Path(__file__).resolve().parents[2] / "experiments" / "mvtec_loco.yaml"
DIFFUSION = {"dhdiff", "dhdiff-no-dda", "dhdiff-no-ssm", "twostage"}
TINY_DIFFUSION = dict(resolution=32, steps=2, batch_size=2, sample_steps=2, sample_batch=4, checkpoint_every=0,
                      lora_rank=4)
TINY_DETECTOR = {
    "frozen-seg": dict(input_size=64, width=8, batch_size=4, max_steps=2, eval_every=1),
    "supervised-seg": dict(input_size=64, base_width=8, batch_size=4, epochs=1, max_steps=2, eval_every=1),
    "supersimplenet": dict(input_size=128, batch_size=4, epochs=1, max_steps=2, eval_every=1),  # its minimum
    "draem": dict(input_size=64, recon_width=8, disc_width=8, batch_size=4, epochs=1, max_steps=2, eval_every=1),
    "glass": dict(input_size=64, batch_size=4, embed_dim=64, discriminator_hidden=32, step=1, epochs=1,
                  max_steps=2, eval_every=1),
    "patchcore": dict(input_size=64, batch_size=8),
    "padim": dict(input_size=64, batch_size=8, n_features=20),
}


def _random_backbone(name: str, layers: list[str], path: Path) -> str:
    """A randomly initialised timm backbone's weights up to `layers` (what the detectors load):
    stands in for the ImageNet file a user gives in `backbone_weights`; never a real result."""
    import timm

    torch.manual_seed(0)
    index = {"layer1": 1, "layer2": 2, "layer3": 3, "layer4": 4}
    model = timm.create_model(name, pretrained=False, features_only=True,
                              out_indices=tuple(index[l] for l in layers))
    torch.save(model.state_dict(), path)
    return str(path)


#: images kept per folder of the built-in LOCO layout (the adapter reads whatever is there): the
#: feature detectors' cost is per image, and a code-path test needs only a few of each kind
KEEP = {"train/good": 24, "validation/good": 6, "test/good": 10, "test/logical_anomalies": 18,
        "test/structural_anomalies": 18}


@pytest.fixture(scope="module")
def loco_root(tmp_path_factory) -> Path:
    import shutil

    from harness.data.builtin import synthesize

    root = tmp_path_factory.mktemp("loco")
    synthesize(root, categories=["pushpins"], image_size=64, seed=0)
    cat = root / "pushpins"
    for folder, keep in KEEP.items():
        for img in sorted((cat / folder).glob("*.png"))[keep:]:
            img.unlink()
            if "anomalies" in folder:
                shutil.rmtree(cat / "ground_truth" / Path(folder).name / img.stem)
    return root


@pytest.fixture(scope="module")
def backbones(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("backbones")
    return {"wide_resnet50_2": _random_backbone("wide_resnet50_2", ["layer2", "layer3"], d / "random-wrn50-2.pth"),
            "resnet18": _random_backbone("resnet18", ["layer1", "layer2", "layer3"], d / "random-resnet18.pth")}


def _overrides(spec: dict, loco_root: Path, tiny_sd: str, backbones: dict[str, str], out: Path,
               generators: list[str], detectors: list[str]) -> list[str]:
    from harness.core.registry import DETECTORS

    gens = []
    for name in generators:
        params = {**TINY_DIFFUSION, "pretrained": tiny_sd} if name in DIFFUSION else {}
        gens.append({"name": name, "params": params})
    dets = []
    for name in detectors:
        params = dict(TINY_DETECTOR[name])
        backbone = DETECTORS.get(name).resolve_params({}, spec["profile"]).model_dump().get("backbone")
        if backbone:
            params["backbone_weights"] = backbones[backbone.split(".")[0]]
        dets.append({"name": name, "params": params})
    return [f"name=e2e-{len(generators)}x{len(detectors)}", f"output_dir={out}", "image_size=64", "seeds=[0]",
            f"datasets.0.root={loco_root}", "datasets.0.categories=[pushpins]", "generation.n_samples=4",
            "generation.quality_metrics=false", f"generators={json.dumps(gens)}", f"detectors={json.dumps(dets)}"]


@pytest.mark.slow
def test_gpu_full_profile_runs_end_to_end(loco_root, tiny_sd, backbones, tmp_path, monkeypatch):
    spec = yaml.safe_load(SPEC.read_text())
    assert spec["profile"] == "gpu-full" and spec["datasets"][0]["name"] == "mvtec_loco"
    generators = [g["name"] for g in spec["generators"]]
    detectors = [d["name"] for d in spec["detectors"]]
    assert set(TINY_DETECTOR) == set(detectors) and DIFFUSION <= set(generators)
    monkeypatch.chdir(tmp_path)
    grids = {"generators": (generators, ["frozen-seg"]), "detectors": (["cutpaste"], detectors)}
    for what, (gens, dets) in grids.items():
        out = tmp_path / what
        args = ["run", str(SPEC), "--no-progress", "--threads", "1"]
        for o in _overrides(spec, loco_root, tiny_sd, backbones, out, gens, dets):
            args += ["--set", o]
        res = CliRunner().invoke(main, args, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        table = pd.read_csv(out / "report" / "results.csv")  # a spec with output_dir: its report beside the run
        assert len(table) and table["mean"].notna().all(), table  # std is n/a with one seed
        cells = list((out / "cells").rglob("*.json"))
        assert not (out / "cells" / "failed").exists() or not any((out / "cells" / "failed").iterdir())
        assert len(cells) >= len(gens) * len(dets) - (len(gens) - 1) * sum(d in ("patchcore", "padim") for d in dets)
    # the diffusion generators ran on the pretrained (tiny SD) path: a latent-space augmented set each
    written = {p.parent.parent.name for p in (tmp_path / "generators" / "augmented").rglob("manifest.json")}
    assert DIFFUSION <= written, written


@pytest.mark.slow
def test_gpu_full_profile_runs_on_the_fake_gpu(loco_root, tiny_sd, backbones, tmp_path, monkeypatch):
    """The gpu-full path on a device that is not the CPU (harness.core.fakegpu: PyTorch's device
    errors where CUDA raises them): the pretrained-SD diffusion generators (LoRA, VAE, CLIP) and a
    trained and a one-class detector, through the whole grid: jobs, metrics, MLflow, report."""
    from harness.config import ExperimentSpec, load_spec
    from harness.core.fakegpu import fake_gpu
    from harness.pipeline import run_experiment

    spec = yaml.safe_load(SPEC.read_text())
    gens, dets = ["dhdiff", "twostage", "copy-paste"], ["frozen-seg", "patchcore"]
    exp = load_spec(SPEC, _overrides(spec, loco_root, tiny_sd, backbones, tmp_path / "fake", gens, dets))
    with fake_gpu() as dev:
        monkeypatch.setattr(ExperimentSpec, "resolved_device", lambda self: str(dev))
        summary = run_experiment(exp, show_progress=False, echo=lambda m: None)
    assert summary.failed == [] and summary.finished == len(gens) + 1
    assert {p.parent.parent.name for p in (tmp_path / "fake" / "augmented").rglob("manifest.json")} == set(gens)
