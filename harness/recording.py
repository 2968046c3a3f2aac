"""Where a finished cell goes: its record in the cell store and its run in MLflow, as one sink.

The job has already written its record (`harness.jobs.run_detect`: a driver that dies loses
nothing); the sink logs it to MLflow, saves it again with the run id, and records a failure in
``cells/failed/``. One process, the driver, writes the tracking store. Cells a previous driver
finished but never logged (it died, or the store was lost or replaced) are logged first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from harness.cells import CellRecord, CellStore
from harness.config import ExperimentSpec, spec_to_dict
from harness.fsio import record_failure
from harness.graph import JobFailed, failure
from harness.jobs import DetectJob, DetectResult, artifacts_of, mlflow_params

Earlier = list[tuple[DetectJob, CellRecord]]


class CellSink:
    """The cell store and the MLflow store of one run, written together."""

    def __init__(self, spec: ExperimentSpec, store: CellStore, device: str, echo: Callable[[str], None]):
        from harness.tracking import store_missing

        self.spec, self.store, self.device, self.echo = spec, store, device, echo
        self.lost = store_missing(spec.mlflow_uri)  # the MLflow store is gone: log every finished cell again
        self.tracker = None

    @property
    def run_dir(self) -> Path:
        return self.spec.run_dir

    def unlogged(self, earlier: Earlier) -> Earlier:
        """Finished cells with no MLflow run: their driver died before logging them, or the store is lost."""
        out = [(j, r) for j, r in earlier if r.mlflow_run_id is None or self.lost]
        if self.lost and out:
            self.echo(f"{self.spec.mlflow_uri}: the MLflow store is missing; re-creating it and logging the "
                      f"{len(out)} finished cell(s) again")
        return out

    def open(self, n_cells: int) -> None:
        """Open the tracking store and the grid's parent run: a dead server or a file that is not a
        database stops the run here, before its files."""
        from harness.tracking import Tracker

        spec = self.spec
        self.tracker = Tracker(spec.mlflow_uri, spec.name, self.run_dir / "mlartifacts", spec.description)
        self.tracker.start_grid(self.run_dir, spec.name, spec_to_dict(spec), n_cells)

    def catch_up(self, earlier: Earlier, unlogged: Earlier) -> None:
        """Log `unlogged`, and the records whose run the store lacks (an emptied or replaced store)."""
        known = self.tracker.run_ids()
        unlogged = unlogged + [(j, r) for j, r in earlier if r.mlflow_run_id and not self.lost
                               and r.mlflow_run_id not in known]
        for job, record in unlogged:
            record.mlflow_run_id = self.tracker.log_cell(record, mlflow_params(self.spec, job, self.device),
                                                         artifacts_of(record))
            self.store.save(record)
            self.echo(f"logged to MLflow: {job.key.describe()} (finished by an earlier run)")

    def record(self, job: DetectJob, result: DetectResult | JobFailed) -> DetectResult | JobFailed:
        """Log a finished cell (or record its failure); a cell that cannot be logged is a failure (its
        record is on disk: a re-run logs it)."""
        if isinstance(result, DetectResult):
            try:
                result.record.mlflow_run_id = self.tracker.log_cell(result.record, result.params, result.artifacts)
                self.store.save(result.record)
            except Exception as exc:  # noqa: BLE001 - the record is on disk; a re-run logs it
                result = failure(exc)
        if isinstance(result, JobFailed):
            failed = result
            record_failure(self.run_dir, failed.message, lambda: self.store.save_failure(job.key, failed.details))
        return result

    def close(self, failed: int) -> None:
        """End the grid's parent run (interrupted, it stays RUNNING and the next run marks it KILLED)."""
        self.tracker.finish_grid(failed=failed)
