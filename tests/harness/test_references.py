"""`report.references`: numbers reported elsewhere, in their own labelled table, never mixed with ours."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.cells import CellKey, CellRecord, CellStore
from harness.config import SpecError, load_spec
from harness.references import ReferenceError, load_references
from harness.report import write_report

HEADER = "source,provenance,dataset,category,generator,detector,metric,value\n"
ROWS = ('"Paper A (2024)",paper-reported,mvtec_ad,mean,gen-a,U-Net,pixel_ap,0.814\n'
        '"Paper A (2024)",paper-reported,mvtec_ad,mean,gen-a,U-Net,image_auroc,0.992\n'
        '"Users of A",third-party re-run,mvtec_ad,mean,gen-a,U-Net,pixel_ap,0.643\n')


def csv(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "refs.csv"
    p.write_text(text)
    return p


def test_the_shipped_references_load():
    root = Path(__file__).resolve().parents[2]
    df = load_references(root / "experiments" / "references" / "mvtec_ad.csv")
    assert set(df["provenance"]) == {"paper-reported", "third-party re-run"}


@pytest.mark.parametrize("text, needle", [
    (HEADER + ROWS.replace("third-party re-run", "rerun"), "line 4: provenance 'rerun' must be one of"),
    (HEADER.replace(",value", ",score") + ROWS, "missing column(s) value"),
    (HEADER + ROWS.replace("0.643", "high"), "line 4: value 'high' is not a number"),
    (HEADER + ROWS.replace('"Users of A"', '""'), "line 4: empty source"),
    (HEADER, "no reference rows"),
])
def test_a_bad_file_is_one_line_naming_it(tmp_path, text, needle):
    p = csv(tmp_path, text)
    with pytest.raises(ReferenceError) as err:
        load_references(p)
    assert str(p) in str(err.value) and needle in str(err.value) and "\n" not in str(err.value)


def test_the_spec_refuses_a_missing_references_file(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({"name": "x", "generators": [{"name": "none"}], "detectors": [{"name": "padim"}],
                                    "report": {"references": str(tmp_path / "nope.csv")}}))
    with pytest.raises(SpecError, match=r"report.references.*nope.csv: report.references file not found"):
        load_spec(spec)


def test_report_shows_them_apart_and_labelled(tmp_path):
    store = CellStore(tmp_path / "run")
    for seed in (0, 1):
        for gen, v in (("none", 0.1), ("cutpaste", 0.3)):
            store.save(CellRecord(CellKey("builtin", "c", gen, "seg", seed, "f"), {"pixel_ap": v + seed / 100}))
    out = tmp_path / "rep"
    write_report(tmp_path / "run", out, title="t", metrics=["pixel_ap"], references=csv(tmp_path, HEADER + ROWS))
    md = (out / "results.md").read_text()
    ours = md.split("## Detectors trained")[1].split("## ")[0]
    assert "0.814" not in ours and "0.643" not in ours  # never mixed into our table
    elsewhere = md.split("## Reported elsewhere (not measured here)")[1].split("## ")[0]
    assert "| Paper A (2024)" in elsewhere and "paper-reported" in elsewhere and "third-party re-run" in elsewhere
    assert "0.814" in elsewhere and "0.992" in elsewhere and "measured here, leak-free" in elsewhere
    assert "Reported elsewhere" in (out / "results.tex").read_text()
    assert "Reported elsewhere" in (out / "index.html").read_text()
