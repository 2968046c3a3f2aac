"""Whole (tiny) grids: quirky data that must keep working, kills, changed data, full and read-only disks."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.cells import CellStore
from harness.config import validate_spec
from reliability_kit import (bench_killed_at, case, draw, leftovers, make_folder_dataset, records, run_spec, save,
                             snapshot, tmpfs, write_spec)


def finished(ran, n: int) -> None:
    assert ran.code == 0, ran.out + ran.err
    assert f"{n} cells run" in ran.out


def test_quirky_data_still_runs(bench, tmp_path, store_uri):
    data = make_folder_dataset(tmp_path / "dätä set")
    for i in (0, 1):  # RGBA normals, palette anomalies
        p = data / "normal" / f"{i:03d}.png"
        Image.open(p).convert("RGBA").save(p)
    p = data / "abnormal" / "dent" / "000.png"
    Image.open(p).convert("P", palette=Image.ADAPTIVE).save(p)
    (data / "normal" / "notes.txt").write_text("not an image")
    (data / "abnormal" / "scratch" / ".DS_Store").write_bytes(b"\0\1")
    os.symlink(data / "normal", data / "normal" / "loop")  # a folder that contains itself
    d = run_spec(tmp_path, data, store_uri, output_dir=str(tmp_path / "out put ü" / "run"))
    ran = bench(write_spec(tmp_path / "s.yaml", d))
    finished(ran, 2)
    case("G13"), case("G14"), case("G15"), case("G16"), case("G17")  # all in this one grid
    rows = json.loads((tmp_path / "out put ü" / "run" / "splits" / "folder" / "dätä set" / "seed0.json").read_text())
    paths = [r["image_path"] for r in (rows["rows"] if isinstance(rows, dict) else rows)]
    assert not any(p.endswith(".txt") or "loop" in p or ".DS_Store" in p for p in paths)


@pytest.fixture
def reference(bench, tmp_path, data, store_uri):
    """An uninterrupted run: its numbers and augmented set hashes."""
    ref = tmp_path / "ref"
    ran = bench(write_spec(ref / "s.yaml", run_spec(ref, data, store_uri)))
    finished(ran, 2)
    return records(ref / "out" / "run"), _set_hashes(ref / "out" / "run")


def _set_hashes(run_dir: Path) -> dict[str, list[str]]:
    out = {}
    for m in sorted((run_dir / "augmented").rglob("manifest.json")):
        man = json.loads(m.read_text())
        out[man["label"]] = [g["sha256"] for g in man["generated"]] + [n["sha256"] for n in man["normal"]]
    return out


def test_same_spec_same_files_and_numbers(bench, tmp_path, data, store_uri, reference):
    ran = bench(write_spec(tmp_path / "s.yaml", run_spec(tmp_path, data, store_uri)))
    finished(ran, 2)
    assert records(tmp_path / "out" / "run") == reference[0]
    assert _set_hashes(tmp_path / "out" / "run") == reference[1]
    case("G20")


def test_kill_during_a_detector_cell_resumes_identically(bench, tmp_path, data, store_uri, reference):
    spec = write_spec(tmp_path / "s.yaml", run_spec(tmp_path, data, store_uri))
    bench_killed_at("fit", spec, tmp_path, nth=2)  # the first cell is finished, the second is training
    run_dir = tmp_path / "out" / "run"
    assert len(CellStore(run_dir).records()) == 1
    ran = bench(spec)
    finished(ran, 1)
    case("G18").check(ran.out)
    assert records(run_dir) == reference[0]


def test_kill_while_writing_an_augmented_set(bench, tmp_path, data, store_uri, reference):
    spec = write_spec(tmp_path / "s.yaml", run_spec(tmp_path, data, store_uri))
    bench_killed_at("augmented", spec, tmp_path)  # 5 files of the first set written, no manifest
    run_dir = tmp_path / "out" / "run"
    sets = [p for p in (run_dir / "augmented").rglob("seed0-*") if p.is_dir()]
    assert all(p.name.startswith(".") for p in sets), sets  # only the hidden partial folder
    ran = bench(spec)
    finished(ran, 2)
    case("G19")
    assert records(run_dir) == reference[0] and _set_hashes(run_dir) == reference[1]
    assert leftovers(run_dir) == []


def test_kill_during_mlflow_logging_closes_the_run(bench, tmp_path, data):
    import mlflow

    d = run_spec(tmp_path, data)  # the run's own MLflow store, as a user has it
    spec = write_spec(tmp_path / "s.yaml", d)
    bench_killed_at("mlflow", spec, tmp_path)  # the first cell's record is on disk, its MLflow run RUNNING
    ran = bench(spec)
    finished(ran, 1)
    case("B9")
    client = mlflow.MlflowClient(tracking_uri=validate_spec(d).mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name(d["name"]).experiment_id])
    runs = [r for r in runs if r.data.tags.get("bench.kind") != "grid"]  # the cells (not the grid's parent run)
    by_status: dict[str, list[str]] = {}
    for r in runs:
        by_status.setdefault(r.info.status, []).append(r.data.tags["cell"])
    assert sorted(by_status) == ["FINISHED", "KILLED"] and len(by_status["KILLED"]) == 1
    assert len(by_status["FINISHED"]) == len(set(by_status["FINISHED"])) == 2  # one per cell, no duplicate
    assert {r.mlflow_run_id for r in CellStore(validate_spec(d).run_dir).records()} == {
        r.info.run_id for r in runs if r.info.status == "FINISHED"}
    again = bench(spec)  # nothing left to close or log
    assert again.code == 0 and len(client.search_runs([runs[0].info.experiment_id])) == 3 + 1  # + the parent


def test_changed_data_reruns_exactly_its_cells(bench, tmp_path, store_uri):
    roots = {c: make_folder_dataset(tmp_path / f"data-{c}") for c in ("a", "b")}
    d = run_spec(tmp_path, roots["a"], store_uri, generators=[{"name": "none"}])
    d["datasets"] = [{"name": "folder", "root": str(r), "categories": [f"data-{c}"],
                      "params": {"normal_dir": "normal", "abnormal_dir": "abnormal", "mask_dir": "masks"}}
                     for c, r in roots.items()]
    spec = write_spec(tmp_path / "s.yaml", d)
    finished(bench(spec), 2)
    before = {r.key.category: r for r in CellStore(tmp_path / "out" / "run").records()}

    os.utime(roots["b"] / "normal" / "001.png")  # a new mtime, the same bytes: nothing to re-run
    assert "resuming: 2/2" in bench(spec).out

    img = np.asarray(Image.open(roots["a"] / "abnormal" / "scratch" / "000.png")).copy()
    img[:8, :8] = 255  # a fixed image
    save(img, roots["a"] / "abnormal" / "scratch" / "000.png")
    save(draw(99), roots["a"] / "normal" / "100.png")  # and an added one
    ran = bench(spec)
    finished(ran, 1)
    case("B2").check(ran.out)
    after = {}
    for r in CellStore(tmp_path / "out" / "run").records():
        after.setdefault(r.key.category, []).append(r)
    assert [r.key for r in after["data-b"]] == [before["data-b"].key]  # b resumed
    assert len(after["data-a"]) == 2  # a's new cell beside the old one


def test_report_folder_inside_the_data_is_not_read(tmp_path, data, registered):
    from harness.pipeline import load_tables

    old = data / "abnormal" / "old-report"  # what `bench report --out` left there earlier
    for name in ("results.md", "cells.json", "results.csv"):
        (old / name).parent.mkdir(parents=True, exist_ok=True)
        (old / name).write_text("{}")
    save(draw(5), old / "pixel_ap.png")
    (sl,) = load_tables(validate_spec(run_spec(tmp_path, data)))
    case("B7c")
    assert not any("old-report" in p for p in sl.table["image_path"])
    assert set(sl.table["defect_type"]) == {"good", "scratch", "dent"}


def _fill(folder: Path, leave: int) -> None:
    """Fill `folder`'s filesystem up to `leave` free bytes."""
    free = shutil.disk_usage(folder).free
    with open(folder / "ballast", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def test_disk_full_mid_grid_one_line_and_cells_kept(bench, tmp_path, data, store_uri, monkeypatch):
    mnt = tmp_path / "small-disk"
    with tmpfs(mnt, "8m") as real:
        d = run_spec(tmp_path, data, store_uri, output_dir=str(mnt / "run"), generators=[{"name": "none"}])
        d["generation"]["n_samples"] = 32
        finished(bench(write_spec(tmp_path / "s.yaml", d)), 1)
        kept = snapshot(mnt / "run" / "cells")
        d["generators"] = [{"name": "none"}, {"name": "cutpaste"}]
        spec = write_spec(tmp_path / "s.yaml", d)
        if real:
            _fill(mnt, 40_000)  # room for the probe, spec and split; not for 32 generated pairs
        else:  # no mounting here: a write that raises ENOSPC, as a full disk does
            real_save = Image.Image.save

            def full(self, fp, *a, **k):
                if "cutpaste" in str(fp):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fp))
                return real_save(self, fp, *a, **k)

            monkeypatch.setattr(Image.Image, "save", full)
        ran = bench(spec)
        assert ran.code == 2, ran.out + ran.err
        line = ran.error_line
        case("B5a").check(line)
        assert str(mnt / "run") in line and "needed" in line
        print(line)
        now = snapshot(mnt / "run" / "cells")
        assert {k: v for k, v in now.items() if not k.startswith("failed/")} == kept  # the finished cell intact
        assert leftovers(mnt / "run") == []
        assert not list((mnt / "run" / "augmented").rglob("*/cutpaste/*"))  # no half set
        if real:
            (mnt / "ballast").unlink()
        else:
            monkeypatch.undo()
            from reliability_kit import plugin
            from harness.core.registry import DETECTORS
            monkeypatch.setitem(DETECTORS._entries, plugin.NAME, plugin.entry())
        again = bench(spec)  # space again: the finished cell resumes, the rest runs
        assert again.code == 0 and "resuming: 1/2" in again.out


def test_read_only_output_folder(bench, tmp_path, data, store_uri):
    mnt = tmp_path / "ro"
    with tmpfs(mnt, "1m", read_only=True) as real:
        if not real:
            mnt.chmod(0o555)
            if os.access(mnt, os.W_OK):  # root without mounting: permissions do not stop it
                pytest.skip("cannot make a read-only folder here (root, and mounting is refused)")
        d = run_spec(tmp_path, data, store_uri, output_dir=str(mnt / "run"))
        ran = bench(write_spec(tmp_path / "s.yaml", d))
        assert ran.code == 2, ran.out + ran.err
        line = ran.error_line
        case("B5b").check(line)
        assert str(mnt / "run") in line
        assert snapshot(mnt) == {}
