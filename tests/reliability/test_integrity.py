"""No silent wrong number (issue 30): a report holds exactly its spec's cells, and every artifact is
checked when it is reused (augmented sets, cell records, the MLflow store)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from harness.cells import CellStore
from reliability_kit import PLUGIN, Ran, case, run_spec, write_spec

CUTPASTE_BIG = {"name": "cutpaste", "params": {"area_ratio": [0.3, 0.5]}}


def report(*args: str) -> Ran:
    from harness.cli import main

    res = CliRunner().invoke(main, ["report", *map(str, args)], catch_exceptions=False)
    return Ran(res.exit_code, res.stdout, res.stderr)


def finished(ran: Ran, n: int) -> None:
    assert ran.code == 0, ran.out + ran.err
    assert f"{n} cells run" in ran.out, ran.out


def cells(report_dir: Path) -> dict[str, dict]:
    rows = json.loads((report_dir / "cells.json").read_text())
    return {f"{r['generator']}/{r['seed']}": r for r in rows}


def test_changed_param_report_holds_the_current_cells_only(bench, tmp_path, data, store_uri):
    """The stale-cell scenario: change a param, re-run into the same folder, report."""
    ref = tmp_path / "ref"  # the changed spec in a clean folder: the numbers the report must show
    finished(bench(write_spec(ref / "s.yaml", run_spec(ref, data, store_uri,
                                                       generators=[{"name": "none"}, CUTPASTE_BIG]))), 2)
    expected = cells(ref / "out" / "report")

    d = run_spec(tmp_path, data, store_uri)  # none + cutpaste with its default params
    finished(bench(write_spec(tmp_path / "s.yaml", d)), 2)
    d["generators"] = [{"name": "none"}, CUTPASTE_BIG]
    spec = write_spec(tmp_path / "s.yaml", d)
    ran = bench(spec)  # the report of this run used to average the old and new cutpaste cell (or crash)
    finished(ran, 1)
    case("B11a").check(ran.out)
    got = cells(tmp_path / "out" / "report")
    assert sorted(got) == sorted(expected) == ["cutpaste/0", "none/0"]
    for k in expected:
        assert got[k]["image_auroc"] == expected[k]["image_auroc"] and got[k]["pixel_ap"] == expected[k]["pixel_ap"]
    md = (tmp_path / "out" / "report" / "results.md").read_text()
    assert "1 superseded cell(s)" in md and "bench report --all" in md
    assert len(CellStore(tmp_path / "out" / "run").records()) == 3  # the old cell is kept on disk

    again = report(spec)  # `bench report SPEC`: the same cells, and it never crashes on the folder
    assert again.code == 0, again.out + again.err
    assert sorted(cells(tmp_path / "out" / "report")) == ["cutpaste/0", "none/0"]

    shown = report(tmp_path / "out" / "run", "--all", "--out", tmp_path / "all")
    assert shown.code == 0, shown.out + shown.err
    labelled = [k for k in cells(tmp_path / "all") if "[superseded" in k]
    assert len(labelled) == 1 and labelled[0].startswith("cutpaste [superseded ")
    case("B11b")


def test_report_of_a_smaller_spec_shows_its_generators_only(bench, tmp_path, data, store_uri):
    d = run_spec(tmp_path, data, store_uri)
    finished(bench(write_spec(tmp_path / "s.yaml", d)), 2)
    d["generators"] = [{"name": "none"}]
    spec = write_spec(tmp_path / "s.yaml", d)
    ran = report(spec)
    assert ran.code == 0, ran.out + ran.err
    assert sorted(cells(tmp_path / "out" / "report")) == ["none/0"]
    case("B11c")
    ran = bench(spec)  # and the run says what it left out
    assert ran.code == 0 and "not in this spec's grid" in ran.out, ran.out
    assert sorted(cells(tmp_path / "out" / "report")) == ["none/0"]


# --- every artifact verified when reused ---------------------------------------------------------

def test_changed_augmented_file_is_regenerated(bench, tmp_path, data, store_uri):
    import numpy as np
    from PIL import Image

    spec = write_spec(tmp_path / "s.yaml", run_spec(tmp_path, data, store_uri))
    finished(bench(spec), 2)
    run_dir = tmp_path / "out" / "run"
    before = {r.key.generator: r.metrics for r in CellStore(run_dir).records()}
    (aug,) = [m.parent for m in (run_dir / "augmented").rglob("manifest.json") if "/cutpaste/" in str(m)]
    for f in (aug / "train" / "good").glob("*.png"):  # replaced images: black normals
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(f)
    for f in (run_dir / "cells").glob("*cutpaste*.json"):  # a later cell that reuses the set
        f.unlink()
    ran = bench(spec)
    finished(ran, 1)
    case("B12a").check(ran.err)
    assert str(aug) in ran.err
    after = {r.key.generator: r.metrics for r in CellStore(run_dir).records()}
    assert after == before  # the set was written again: the same numbers as before the tampering


def test_corrupt_cell_record_is_one_line_and_recomputed(bench, tmp_path, data, store_uri):
    spec = write_spec(tmp_path / "s.yaml", run_spec(tmp_path, data, store_uri))
    finished(bench(spec), 2)
    run_dir = tmp_path / "out" / "run"
    before = {r.key.generator: r.metrics for r in CellStore(run_dir).records()}
    (rec,) = (run_dir / "cells").glob("*cutpaste*.json")
    rec.write_text(rec.read_text()[:40])  # truncated
    shown = report(run_dir, "--out", tmp_path / "rep")  # the report leaves it out, with a line
    assert shown.code == 0, shown.out + shown.err
    assert f"{rec}: corrupt cell record" in (tmp_path / "rep" / "results.md").read_text()
    ran = bench(spec)
    finished(ran, 1)
    case("B12b").check(ran.out)
    assert str(rec) in ran.out
    assert {r.key.generator: r.metrics for r in CellStore(run_dir).records()} == before


def test_deleted_mlflow_store_is_recreated_and_relogged(bench, tmp_path, data):
    from harness.config import validate_spec

    d = run_spec(tmp_path, data)  # the run's own store, as a user has it
    spec = write_spec(tmp_path / "s.yaml", d)
    finished(bench(spec), 2)
    exp = validate_spec(d)
    (exp.run_dir / "mlflow.db").unlink()
    # a new process, as a user's next `bench run` is (this one's MLflow keeps the deleted file's engine)
    proc = subprocess.run([sys.executable, str(PLUGIN), "run", "--no-progress", str(spec)], cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    case("B12c").check(proc.stdout)
    # read with sqlite3: this process's MLflow still holds an engine on the deleted file
    with sqlite3.connect(exp.run_dir / "mlflow.db") as db:
        runs = db.execute("select run_uuid, status from runs where run_uuid in "
                          "(select run_uuid from tags where key = 'mlflow.parentRunId')").fetchall()
        parents = db.execute("select count(*) from runs where run_uuid not in "
                             "(select run_uuid from tags where key = 'mlflow.parentRunId')").fetchone()[0]
    assert sorted(status for _, status in runs) == ["FINISHED", "FINISHED"] and parents == 1  # the grid's run
    assert {r.mlflow_run_id for r in CellStore(exp.run_dir).records()} == {rid for rid, _ in runs}
