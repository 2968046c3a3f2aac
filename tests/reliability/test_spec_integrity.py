"""Spec values checked up front (issue 30): output paths that would escape the output folder, seeds
numpy cannot take, texts MLflow cannot store, YAML alias bombs, dead tracking stores, read-only
report folders: one line, exit 2, nothing written."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from reliability_kit import Ran, case, run_spec, snapshot, spec_dict, tmpfs, write_spec


def refused(bench, tmp_path, d, *args) -> str:
    ran = bench(write_spec(tmp_path / "s.yaml", d), *args)
    assert ran.code == 2, ran.out + ran.err
    assert snapshot(tmp_path / "out") == {}
    return ran.error_line


@pytest.mark.parametrize("category", ["../../../escaped", "/tmp/bench-escaped-abs"])
def test_category_that_would_leave_the_output_folder(bench, tmp_path, data, category):
    d = spec_dict(tmp_path, data)
    d["datasets"][0]["params"]["category"] = category
    line = refused(bench, tmp_path, d)
    case("B18").check(line)
    assert not (tmp_path / "escaped").exists() and not os.path.exists("/tmp/bench-escaped-abs/folder")


def test_seed_outside_numpy_range(bench, tmp_path, data):
    for seed in (-1, 2**32):
        line = refused(bench, tmp_path, spec_dict(tmp_path, data, seeds=[seed]))
        case("B19").check(line)


def test_description_longer_than_mlflow_stores(bench, tmp_path, data):
    line = refused(bench, tmp_path, spec_dict(tmp_path, data, description="x" * 20001))
    case("B20").check(line)


def test_yaml_alias_bomb_with_set(bench, tmp_path, data):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for k in "bcdefg":
        prev = chr(ord(k) - 1)
        lines.append(f"{k}: &{k} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    bomb = "\n".join(lines) + "\n"  # 10**7 values once expanded
    import yaml

    spec = yaml.safe_dump(spec_dict(tmp_path, data), sort_keys=False) + "description: x\nbomb_holder:\n  " + \
        bomb.replace("\n", "\n  ")
    path = write_spec(tmp_path / "s.yaml", spec)
    ran = bench(path, "--set", "seeds=[1]")
    assert ran.code == 2, ran.out + ran.err
    case("B21").check(ran.error_line)
    assert snapshot(tmp_path / "out") == {}


def test_tracking_store_that_is_not_a_database(bench, tmp_path, data):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    d = run_spec(tmp_path, data, f"sqlite:///{junk}")
    ran = bench(write_spec(tmp_path / "s.yaml", d))
    assert ran.code == 2, ran.out + ran.err
    line = ran.error_line
    case("B22").check(line)
    run_dir = tmp_path / "out" / "run"
    assert not (run_dir / "spec.json").exists() and not (run_dir / "splits").exists()


def test_report_into_a_read_only_folder(bench, tmp_path, data, store_uri):
    spec = write_spec(tmp_path / "s.yaml", run_spec(tmp_path, data, store_uri))
    ran = bench(spec)
    assert ran.code == 0, ran.out + ran.err
    ro = tmp_path / "ro"
    with tmpfs(ro, "1m", read_only=True) as real:
        if not real:
            ro.chmod(0o555)
            if os.access(ro, os.W_OK):
                pytest.skip("cannot make a read-only folder here (root, and mounting is refused)")
        from harness.cli import main

        res = CliRunner().invoke(main, ["report", str(tmp_path / "out" / "run"), "--out", str(ro / "rep")],
                                 catch_exceptions=False)
        shown = Ran(res.exit_code, res.stdout, res.stderr)
        assert shown.code == 2, shown.out + shown.err
        case("B23").check(shown.error_line)


def test_cuda_on_a_machine_without_one(bench, tmp_path, data, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a GPU machine too: as a CPU box
    line = refused(bench, tmp_path, spec_dict(tmp_path, data, device="cuda"))
    case("G25").check(line)


def test_tracking_server_that_does_not_answer(bench, tmp_path, data):
    d = run_spec(tmp_path, data, "http://127.0.0.1:9")  # the discard port: nothing listens
    ran = bench(write_spec(tmp_path / "s.yaml", d))
    assert ran.code == 2, ran.out + ran.err
    assert "cannot reach the MLflow server" in ran.error_line
    case("B22")
    assert not (tmp_path / "out" / "run" / "spec.json").exists()
