"""`bench`: run a grid, render its report, list plug-ins, write the built-in dataset."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import click

from harness.config import SpecError, load_spec, recorded_report_dir
from harness.data.table import DatasetError
from harness.executors.base import EXECUTORS, ExecutorError, resolve_executor
from harness.core.plugin import DeviceUnavailable, ParamError
from harness.core.registry import UnknownNameError
from harness.fsio import OutputWriteError, fault_kind, translate
from harness.lock import LockHeld
from harness.references import ReferenceError
from harness.tracking import TrackingError
from harness.runtime import limit_malloc_arenas


USER_ERRORS = (SpecError, DatasetError, UnknownNameError, ParamError, FileNotFoundError, OutputWriteError, LockHeld,
               ExecutorError, ReferenceError, DeviceUnavailable, TrackingError)


def _fail(exc: BaseException) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="anomaly-aug-bench")
def main() -> None:
    """Benchmark synthetic-anomaly generators by what they do for anomaly detectors."""
    limit_malloc_arenas()
    # deprecation notices that anomalib's own imports raise; nothing a user of bench can act on
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(timm|anomalib)(\..*)?$")


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a spec value, e.g. --set seeds=[0,1] --set generators.0.params.steps=50.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
@click.option("--threads", default=None, metavar="N|auto",
              help="Torch CPU threads (default: the spec's `threads`, auto = cores not busy, ≤ 8). "
                   "Numbers are bit-identical only for the same count.")
@click.option("--executor", type=click.Choice((*EXECUTORS, "auto")), default=None,
              help="local: one job after another here; ray: Ray tasks over the job graph (docs/scaling.md); "
                   "auto: ray where installed and ≥ 2 cores are free. Default: the spec's `executor` (local).")
@click.option("--address", default=None, metavar="auto|HOST:PORT",
              help="ray: join this Ray cluster (default: start a local Ray sized to this machine).")
@click.option("--gpus-per-job", type=float, default=None, metavar="N",
              help="ray: GPUs each job asks for (default: 1 where the device is cuda, else 0).")
@click.option("--cpus-per-job", type=float, default=None, metavar="N",
              help="ray: CPUs each job asks for (default 1; also its torch threads when threads is auto).")
def run(spec: Path, overrides: tuple[str, ...], progress: bool, threads: str | None, executor: str,
        address: str | None, gpus_per_job: float | None, cpus_per_job: float | None) -> None:
    """Run the grid of SPEC (a YAML file); finished cells are skipped on a re-run."""
    try:
        from harness.executors import make_executor

        if threads is not None:
            if threads != "auto" and not threads.isdigit():
                raise SpecError(f"--threads: '{threads}' is not a number or 'auto'; e.g. --threads 1")
            overrides = (*overrides, f"threads={threads}")
        if executor is not None:
            overrides = (*overrides, f"executor={executor}")
        exp = load_spec(spec, overrides)
        chosen, why_executor = resolve_executor(exp.executor, address)
        if exp.executor == "auto":
            click.echo(f"executor: {chosen} ({why_executor})")
        runner = make_executor(chosen, address=address, gpus_per_job=gpus_per_job, cpus_per_job=cpus_per_job)
        from harness.pipeline import run_experiment
        from harness.runtime import apply_threads, choose_threads

        n_threads, why = runner.threads_per_job(exp.threads) or choose_threads(exp.threads)
        apply_threads(n_threads)
        click.echo(f"torch threads: {n_threads} ({why})")

        summary = run_experiment(exp, show_progress=progress, echo=click.echo, executor=runner)
    except USER_ERRORS as exc:
        _fail(exc)
        return
    except OSError as exc:  # a full or read-only disk met by a library's own write: one line, not a traceback
        if fault_kind(exc) is None:
            raise
        _fail(translate(exc, Path(exc.filename).parent if exc.filename else Path.cwd(), "the run's outputs"))
        return
    from harness.cli_summary import run_summary

    paths = None
    try:
        paths = _report(exp.run_dir, exp.report_dir, exp)
        _attach_report(exp, paths)
    except FileNotFoundError as exc:
        click.echo(f"no report: {exc}", err=True)
    except OSError as exc:  # a full or read-only report folder: one line, the run's results are kept
        _fail(translate(exc, exp.report_dir, "the report"))
    for line in run_summary(summary, exp, paths):
        click.echo(line)
    from harness.verdict import run_verdict

    for line in run_verdict(exp.run_dir, [g.key for g in exp.generators], [d.key for d in exp.detectors]):
        click.echo(f"verdict: {line}")  # the run's last word: what its numbers support
    if summary.failed:
        click.echo("failed cells (details in " + str(exp.run_dir / "cells" / "failed") + "):", err=True)
        for line in summary.failed:
            click.echo(f"  {line}", err=True)
        sys.exit(1)


def _attach_report(exp, paths: list[Path]) -> None:
    """The report on the grid's MLflow parent run; a tracking store that fails here costs a warning."""
    from harness.tracking import attach_report

    try:
        attach_report(exp.mlflow_uri, exp.name, exp.run_dir, paths)
    except Exception as exc:  # noqa: BLE001 - the report is on disk either way
        click.echo(f"warning: report not attached to MLflow ({exc})", err=True)


def _report(run_dir: Path, out_dir: Path, exp=None, *, grid: dict | None = None, show_all: bool = False) -> list[Path]:
    from functools import partial

    from harness.report import write_report

    write_report = partial(write_report, grid=grid, include_superseded=show_all)

    if exp is None:
        refs = None
        try:  # the spec the run was made with names its references file
            refs = json.loads((run_dir / "spec.json").read_text()).get("report", {}).get("references")
        except (OSError, ValueError):
            pass
        return write_report(run_dir, out_dir, title=run_dir.name, metrics=("image_auroc", "image_ap", "pixel_auroc",
                                                                            "pixel_ap", "pixel_aupro"),
                            references=Path(refs) if refs else None)
    return write_report(run_dir, out_dir, title=f"{exp.name}: {exp.description}" if exp.description else exp.name,
                        metrics=exp.report.metrics, generator_order=[g.key for g in exp.generators],
                        detector_order=[d.key for d in exp.detectors], references=exp.report.references)


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Report folder (default: the spec's report dir; for a RUN_DIR the one its spec.json implies).")
@click.option("--all", "show_all", is_flag=True,
              help="Also show superseded cells (an older configuration left in the folder), labelled.")
def report(source: Path, out: Path | None, show_all: bool) -> None:
    """Write results.{md,csv,tex} and a figure from a SPEC file (its cells only) or a RUN_DIR (its last run's)."""
    try:
        if source.is_dir():
            paths = _report(source, out or recorded_report_dir(source), show_all=show_all)
        else:
            from harness.identity import spec_grid

            exp = load_spec(source)
            paths = _report(exp.run_dir, out or exp.report_dir, exp, grid=spec_grid(exp), show_all=show_all)
    except USER_ERRORS as exc:
        _fail(exc)
        return
    except OSError as exc:  # a read-only or full report folder: one line, not a traceback
        if fault_kind(exc) is None:
            raise
        _fail(translate(exc, Path(exc.filename).parent if exc.filename else Path.cwd(), "the report"))
        return
    for p in paths:
        click.echo(str(p))


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--device", default="cpu", show_default=True, help="Device for the quality networks.")
def quality(run_dir: Path, device: str) -> None:
    """Re-score RUN_DIR's augmented sets: fill in IS / IC-LPIPS / KID / FID left n/a (after adding weights)."""
    from harness.rescore import rescore_run

    try:
        summary = rescore_run(run_dir, device=device, echo=click.echo)
    except USER_ERRORS as exc:
        _fail(exc)
        return
    done = ", ".join(f"{k} {n}" for k, n in sorted(summary.rescored.items())) or "nothing new"
    click.echo(f"{summary.sets} augmented sets; re-scored: {done}; {summary.cells_updated} cell records and "
               f"{summary.mlflow_runs_updated} MLflow runs updated")
    for key, reason in sorted(summary.still_missing.items()):
        click.echo(f"  {key}: still n/a — {reason}")
    click.echo(f"then: bench report {run_dir}")


@main.command(name="list")
@click.argument("plugin", required=False)
def list_plugins(plugin: str | None) -> None:
    """Registered generators, detectors, datasets and the metrics; with PLUGIN, its params per profile."""
    from harness.cli_list import describe_plugin, list_kind

    if plugin is not None:
        try:
            lines = describe_plugin(plugin)
        except USER_ERRORS as exc:
            _fail(exc)
            return
        for line in lines:
            click.echo(line)
        return
    for title in ("generators", "detectors", "datasets"):
        click.echo(f"{title}:")
        for e in list_kind(title):
            extra = "".join(f" [{f}]" for f in e.flags)
            click.echo(f"  {e.name:<18} {e.summary}{extra}")
    from harness.report import METRIC_NAMES, QUALITY_NAMES

    click.echo("metrics:")
    for key, label in {**METRIC_NAMES}.items():
        click.echo(f"  {key:<18} {label} (detection)")
    for key, label in QUALITY_NAMES.items():
        click.echo(f"  {key:<18} {label} (generation quality)")
    click.echo("a plug-in's params: bench list NAME")


@main.group()
def data() -> None:
    """Datasets: write the built-in procedural dataset."""


@data.command()
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write (MVTec LOCO layout).")
@click.option("--categories", default=None, help="Comma-separated categories (default: all).")
@click.option("--image-size", type=int, default=128, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def synth(out: Path, categories: str | None, image_size: int, seed: int) -> None:
    """Write the built-in LOCO-like dataset to OUT, byte-for-byte reproducible for a seed."""
    from harness.data.builtin import synthesize

    cats = [c.strip() for c in categories.split(",")] if categories else None
    try:
        written = synthesize(out, categories=cats, image_size=image_size, seed=seed)
    except (ValueError, DatasetError) as exc:
        _fail(exc)
        return
    click.echo(f"wrote {', '.join(written)} to {out}")


from harness.cli_weights import weights_group  # noqa: E402 - after main exists
from harness.doctor import doctor_command  # noqa: E402 - checkpoints, backbones, data and metric weights

main.add_command(doctor_command, "doctor")
main.add_command(weights_group, "weights")


if __name__ == "__main__":
    main()
