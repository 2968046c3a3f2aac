"""No silent wrong number (issue 30): a report holds exactly its spec's cells, and every artifact is
checked when it is reused (augmented sets, cell records, the MLflow store)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from harness.cells import CellStore
from reliability_kit import Ran, case, run_spec, write_spec

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
