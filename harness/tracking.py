"""MLflow logging: a parent run per grid (its spec, then its report) holding one child run per
finished cell, artifacts kept beside the run dir. A child's params are its inputs, resolved
(`harness.mlflow_params`); what it measured is metrics and ``generation.json``.

A driver killed while logging leaves its MLflow run RUNNING, and the cell's record without
a run id, so the next run logs the cell again. The tracker is only made by the driver that
holds the output folder's lock, so no RUNNING run of its experiment can be live: on start
it closes them as KILLED, and it logs a cell that already has a FINISHED run (killed after
MLflow finished it, before the record kept the id) by reusing that run: one FINISHED run
per cell, never two.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from harness.cells import ONE_CLASS, CellKey, CellRecord
from harness.fsio import translate
from harness.names import cell_name


def _numerics_tags() -> dict[str, str]:
    """What else decides the exact numbers: float summation order depends on the torch build and
    thread count, so a DH-Diff run with 1 thread does not reproduce one with 2 bit for bit."""
    import torch

    return {"torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}


def _flatten(prefix: str, params: dict[str, Any]) -> dict[str, str]:
    """Dotted keys, one per leaf; unset (None) values are left out, not logged as "None"."""
    out: dict[str, str] = {}
    for k, v in params.items():
        key = f"{prefix}.{k}"
        if isinstance(v, dict):
            out.update(_flatten(key, v))
        elif v is not None:
            out[key] = str(v)[:500]
    return out


def run_name(key: CellKey) -> str:
    """``cutpaste·frozen-seg·s1·pushpins``: the UI's run table cuts names at ~30 characters."""
    return cell_name(key)


def generation_metrics(generation: dict[str, Any], timestamp: int) -> list:
    """The computed generation metrics as MLflow metrics ``gen_<name>`` (n/a ones left out)."""
    from mlflow.entities import Metric

    return [Metric(f"gen_{name}", float(res["value"]), timestamp, 0) for name, res in generation.items()
            if res.get("value") is not None]


def _versions() -> dict[str, str]:
    from harness.mlflow_params import versions

    return {f"version.{k}": v for k, v in versions().items()}


#: the tag that finds a grid's parent run again on a re-run (the run folder, resolved)
GRID_TAG = "bench.grid"


def attach_report(tracking_uri: str, experiment: str, run_dir: Path, paths: Iterable[Path]) -> str | None:
    """The report's files (results.csv, the tables, index.html) on the grid's parent run, under
    ``report/``. A plain client, not a `Tracker`: the run's lock is released by now, so this must
    not close another driver's RUNNING runs."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    found = client.search_runs([exp.experiment_id], filter_string=f"tags.`{GRID_TAG}` = '{run_dir.resolve()}'",
                               max_results=1)
    if not found:
        return None
    rid = found[0].info.run_id
    for p in paths:
        if Path(p).is_file():
            client.log_artifact(rid, str(p), "report")
    return rid


def store_missing(tracking_uri: str) -> bool:
    """True when the URI names a local SQLite store whose file is gone (deleted after a run):
    the finished cells' runs are lost and must be logged again."""
    if not tracking_uri.startswith("sqlite:///"):
        return False
    path = tracking_uri[len("sqlite:///"):]
    return path not in ("", ":memory:") and not Path(path).exists()


class TrackingError(RuntimeError):
    """The MLflow store cannot be opened (a dead server, a file that is not a database): one line."""


def _probe_server(tracking_uri: str, timeout: float = 5.0) -> None:
    """A tracking server that does not answer is one line in seconds (MLflow's own client retries
    with backoff for minutes first). Any HTTP answer counts as alive (auth is MLflow's business)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(tracking_uri.rstrip("/") + "/health", timeout=timeout).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"{tracking_uri}: cannot reach the MLflow server ({reason}); start it, fix tracking_uri, "
                            "or remove it to use the run folder's own store") from None


class Tracker:
    """Logs cells to an MLflow experiment named after the spec."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path, description: str = ""):
        for name in ("alembic", "mlflow", "mlflow.store.db.utils"):
            logging.getLogger(name).setLevel(logging.WARNING)
        import mlflow

        self._mlflow = mlflow
        self.parent_id: str | None = None
        self.artifact_root = artifact_root
        if tracking_uri.startswith(("http://", "https://")):
            _probe_server(tracking_uri)
        try:
            self.client = mlflow.MlflowClient(tracking_uri=tracking_uri)
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None:
                artifact_root.mkdir(parents=True, exist_ok=True)
                self.experiment_id = self.client.create_experiment(experiment,
                                                                   artifact_location=artifact_root.resolve().as_uri())
            else:
                self.experiment_id = exp.experiment_id
            self._describe_experiment(description)
            self.closed_interrupted = self.close_interrupted()
        except Exception as exc:  # noqa: BLE001 - a full or read-only disk reads as SQLAlchemy errors
            err = translate(exc, artifact_root.parent, f"the MLflow store ({tracking_uri})")
            if err is exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                raise TrackingError(f"{tracking_uri}: cannot open the MLflow store ({type(exc).__name__}: {first}); "
                                    "fix tracking_uri (a sqlite:///file.db path, or a running MLflow server) or "
                                    "remove it to use the run folder's own store") from None
            raise err from None

    def _describe_experiment(self, description: str) -> None:
        """The spec's description (the UI's experiment note) and the versions, on the experiment;
        MLflow's empty "Default" experiment removed, so the UI opens on ours."""
        tags = {**_versions(), **({"mlflow.note.content": description} if description else {})}
        for k, v in tags.items():
            self.client.set_experiment_tag(self.experiment_id, k, v)
        default = self.client.get_experiment("0") if self.experiment_id != "0" else None
        if default is not None and default.lifecycle_stage == "active" and not self.client.search_runs(["0"], max_results=1):
            self.client.delete_experiment("0")

    def _runs(self, filter_string: str) -> list:
        return self.client.search_runs([self.experiment_id], filter_string=filter_string, max_results=50000)

    def run_ids(self) -> set[str]:
        """The FINISHED runs of the experiment (a record whose run is not among them is logged again)."""
        return {r.info.run_id for r in self._runs("attributes.status = 'FINISHED'")}

    def close_interrupted(self) -> int:
        """Mark the RUNNING runs of a killed driver KILLED; how many there were."""
        stale = self._runs("attributes.status = 'RUNNING'")
        for run in stale:
            self.client.set_terminated(run.info.run_id, "KILLED")
        return len(stale)

    def finished_run(self, slug: str) -> str | None:
        """The id of the cell's FINISHED run, if a killed driver logged it without keeping the id."""
        runs = self._runs(f"tags.cell = '{slug}' and attributes.status = 'FINISHED'")
        return runs[0].info.run_id if runs else None

    def update_generation(self, run_id: str, generation: dict[str, Any]) -> int:
        """After `bench quality`: log the generation metrics computed since the run was logged (and
        ``generation.json`` again, with their params) and drop their ``gen_<name>.unavailable``
        tags; what was logged before is kept. Returns how many metrics were added."""
        run = self.client.get_run(run_id)
        now = int(time.time() * 1000)
        metrics = [m for m in generation_metrics(generation, now) if m.key not in run.data.metrics]
        if metrics:
            self.client.log_batch(run_id, metrics=metrics)
            self.client.log_dict(run_id, generation, "generation.json")
        for m in metrics:
            if f"{m.key}.unavailable" in run.data.tags:
                self.client.delete_tag(run_id, f"{m.key}.unavailable")
        return len(metrics)

    def log_cell(self, record: CellRecord, params: dict[str, Any], artifacts: Iterable[Path]) -> str:
        try:
            return self._log_cell(record, params, artifacts)
        except Exception as exc:  # noqa: BLE001 - see __init__
            err = translate(exc, self.artifact_root.parent, f"the MLflow run of {record.key.describe()}")
            if err is exc:
                raise
            raise err from None

    def start_grid(self, run_dir: Path, name: str, spec: dict[str, Any], n_cells: int) -> str:
        """The grid's parent run, RUNNING until `finish_grid`: found again by its run folder on a
        re-run (so resumed cells and new ones sit under one parent), else made, with the spec as
        ``spec.json`` and its few headline inputs as params."""
        try:
            return self._start_grid(run_dir, name, spec, n_cells)
        except Exception as exc:  # noqa: BLE001 - see __init__: a full or read-only disk is one line
            err = translate(exc, self.artifact_root.parent, "the MLflow parent run of the grid")
            if err is exc:
                raise
            raise err from None

    def _start_grid(self, run_dir: Path, name: str, spec: dict[str, Any], n_cells: int) -> str:
        from mlflow.entities import Param

        grid = str(run_dir.resolve())
        found = self._runs(f"tags.`{GRID_TAG}` = '{grid}'")
        if found:
            self.parent_id = found[0].info.run_id
            self.client.update_run(self.parent_id, status="RUNNING")
        else:
            run = self.client.create_run(self.experiment_id, run_name=f"{name} (grid)",
                                         tags={GRID_TAG: grid, "bench.kind": "grid", **_numerics_tags()})
            self.parent_id = run.info.run_id
            headline = {"profile": spec.get("profile"), "image_size": spec.get("image_size"),
                        "seeds": spec.get("seeds"), **_versions()}
            self.client.log_batch(self.parent_id, params=[Param(k, str(v)[:500]) for k, v in headline.items()
                                                          if v is not None])
        self.client.log_dict(self.parent_id, spec, "spec.json")
        self.client.log_metric(self.parent_id, "cells", n_cells)
        return self.parent_id

    def finish_grid(self, failed: int) -> None:
        """Close the parent run: FINISHED, or FAILED where a cell failed (a re-run retries them)."""
        if self.parent_id is not None:
            self.client.log_metric(self.parent_id, "cells_failed", failed)
            self.client.set_terminated(self.parent_id, "FAILED" if failed else "FINISHED")

    def _log_cell(self, record: CellRecord, params: dict[str, Any], artifacts: Iterable[Path]) -> str:
        k = record.key
        existing = self.finished_run(k.slug)
        if existing is not None:
            return existing
        tags = {"dataset": k.dataset, "category": k.category,
                "generator": "one-class" if k.generator == ONE_CLASS else k.generator,
                "detector": k.detector, "seed": str(k.seed), "cell": k.slug, **_numerics_tags(),
                **({"mlflow.parentRunId": self.parent_id} if self.parent_id else {})}
        ended = int(time.time() * 1000)
        # Backdated by the cell's own time, so the UI's duration is the real one.
        run = self.client.create_run(self.experiment_id, start_time=ended - int(record.seconds * 1000),
                                     run_name=run_name(k), tags=tags)
        rid = run.info.run_id
        try:
            from mlflow.entities import Metric, Param, RunTag

            flat = {k2[len("p."):]: v for k2, v in _flatten("p", params).items()}
            metrics = [Metric(name, float(v), ended, 0) for name, v in record.metrics.items() if v is not None]
            metrics += generation_metrics(record.generation, ended)
            gen_tags = [RunTag(f"gen_{name}.unavailable", str(res.get("unavailable"))[:5000])
                        for name, res in record.generation.items() if res.get("value") is None]
            metrics += [Metric("seconds", record.seconds, ended, 0),
                        Metric("n_generated", record.n_generated, ended, 0),
                        Metric("n_normal", record.n_normal, ended, 0)]
            # the training curve as step metrics ("curve.val_pixel_ap", ...): steps are what the
            # record keeps (a wall-clock time per point would make two runs' records differ)
            for point in record.curve:
                step = int(point.get("step", 0))
                metrics += [Metric(f"curve.{name}", float(v), ended, step) for name, v in point.items()
                            if name != "step" and v is not None and np.isfinite(v)]
            self.client.log_batch(rid, metrics=metrics, params=[Param(a, b) for a, b in flat.items()], tags=gen_tags)
            if record.generation:  # what the generation metrics measured, with their params
                self.client.log_dict(rid, record.generation, "generation.json")
            for art in artifacts:
                if art and Path(art).is_file():
                    self.client.log_artifact(rid, str(art))
            self.client.set_terminated(rid, "FINISHED", end_time=ended)
        except BaseException:
            self.client.set_terminated(rid, "FAILED")
            raise
        return rid
