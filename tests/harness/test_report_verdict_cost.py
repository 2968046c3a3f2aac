"""Issue 31: the report opens with a verdict its numbers carry, shows generator cost next to quality,
collapses all-n/a columns, links every file, and its results.tex compiles in a minimal document."""

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.cells import CellKey, CellRecord, CellStore
from harness.report import write_report

GENS = ["none", "copy-paste", "draem", "dhdiff"]
#: (category, seed) → pixel AP per generator: copy-paste and draem swap places from pair to pair (a tie),
#: dhdiff sits clearly below both and clearly above none
PAP = {("c1", 0): (0.05, 0.310, 0.267, 0.20), ("c1", 1): (0.06, 0.280, 0.289, 0.19),
       ("c2", 0): (0.04, 0.300, 0.310, 0.21), ("c2", 1): (0.05, 0.290, 0.280, 0.20)}
NA = {"value": None, "unavailable": "Inception weights missing; run `bench doctor`", "params": {}}
COST = {"dhdiff": {"fit_seconds": 700.0, "sample_seconds": 20.0, "n_sampled": 8, "images_per_second": 0.4,
                   "gpu_seconds": None, "device": "cpu"},
        "copy-paste": {"fit_seconds": 0.01, "sample_seconds": 0.5, "n_sampled": 8, "images_per_second": 16.0,
                       "gpu_seconds": None, "device": "cpu"}}  # draem: a record from before costs were kept


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("v31")
    run = tmp / "run"
    store = CellStore(run)
    run.mkdir()
    (run / "mlflow.db").write_bytes(b"")
    for (cat, seed), values in PAP.items():
        for g, pap in zip(GENS, values):
            manifest = None
            if g != "none":
                set_dir = run / "augmented" / "builtin" / cat / g / f"seed{seed}-f"
                set_dir.mkdir(parents=True)
                Image.fromarray(np.full((96, 40, 3), 128, np.uint8)).save(set_dir / "grid.png")
                manifest = set_dir / "manifest.json"
                manifest.write_text(json.dumps({"generated": []}))
            store.save(CellRecord(
                CellKey("builtin", cat, g, "seg", seed, "f"), {"pixel_ap": pap, "image_auroc": 0.5 + pap},
                generation={} if g == "none" else {"is": NA, "fid": NA,
                                                    "ic_lpips": {"value": 0.3, "unavailable": None, "params": {}}},
                n_generated=0 if g == "none" else 8, seconds=10.0, generator_cost=COST.get(g, {}),
                augmented_manifest=str(manifest) if manifest else None))
    out = tmp / "rep"
    paths = write_report(run, out, title="v31", metrics=["image_auroc", "pixel_ap"], generator_order=GENS,
                         detector_order=["seg"])
    return run, out, paths


def test_the_verdict_opens_every_format_and_calls_the_tie(report):
    _, out, paths = report
    md = (out / "results.md").read_text()
    assert md.index("## Verdict") < md.index("## Signal check") < md.index("## Detectors trained")
    line = next(s for s in md.splitlines() if s.startswith("- seg, P-AP:"))
    assert line.startswith("- seg, P-AP: copy-paste ≈ draem > dhdiff;") and "copy-paste and draem tie" in line
    assert line.endswith("all 3 beat none.")
    html = (out / "index.html").read_text()
    assert html.index("copy-paste and draem tie") < html.index("Signal check")
    doc = (out / "report.tex").read_text()
    assert doc.index(r"\section*{Verdict}") < doc.index(r"\section*{Signal check}") < doc.index(r"\input{results.tex}")
    assert r"copy-paste $\approx$ draem $>$ dhdiff" in doc
    verdict = pd.read_csv(out / "verdict.csv")
    top = verdict[(verdict.metric == "pixel_ap") & (verdict.upper == "copy-paste") & (verdict.lower == "draem")].iloc[0]
    assert top["call"] == "≈" and top["n_pairs"] == 4 and top["ci_low"] < 0 < top["ci_high"]
    assert out / "verdict.csv" in paths


def test_no_interval_or_test_from_too_few_pairs(report):
    _, out, _ = report
    md = (out / "results.md").read_text()
    vs_none = md.split("### vs `none`")[1].split("###")[0]
    row = next(s for s in vs_none.splitlines() if s.startswith("| dhdiff"))
    assert "(4/4), CI and p need ≥ 6 pairs" in row and "[" not in row and "p=" not in row
    assert pd.read_csv(out / "paired.csv")["ci_low"].isna().all()
    # the signal check compares the generators that augment, and none apart
    signal = pd.read_csv(out / "signal.csv").set_index("metric").loc["pixel_ap"]
    assert (signal["best"], signal["runner_up"], signal["compared"]) == ("copy-paste", "draem", "augmenting")
    assert signal["effect"] == pytest.approx(0.295 - 0.2)


def test_cost_next_to_quality(report):
    _, out, _ = report
    md = (out / "results.md").read_text()
    cost = md.split("## Cost: generator fit and sampling, detector training")[1].split("\n### ")[0]
    rows = {s.split("|")[1].strip(): [c.strip() for c in s.split("|")[2:-1]] for s in cost.splitlines()
            if s.startswith("| ") and not s.startswith("| generator")}
    # sets, fit s, sample s, images/s, GPU-s, detector s / cell, total s
    assert rows["dhdiff"][:5] == ["4", "700.0", "20.0", "0.4", "n/a (CPU)"]
    assert rows["dhdiff"][5:] == ["10.0", f"{4 * 720 + 4 * 10}"]
    assert rows["draem"][1] == "n/a" and rows["draem"][-1] == "≥ 40 (fit n/a)"  # an old record: n/a, never 0
    assert rows["none"][1] == "—"
    gain = md.split("### P-AP gained over `none` per minute of generator time")[1].split("\n## ")[0]
    dh = next(s for s in gain.splitlines() if s.startswith("| dhdiff"))
    delta = np.mean([v[3] - v[0] for v in PAP.values()])
    assert f"{delta:+.3f}" in dh and f"{delta / (700 / 60):+.4f}" in dh
    cp = next(s for s in gain.splitlines() if s.startswith("| copy-paste"))
    assert "n/a (fit < 1 s)" in cp and "n/a (< 1 s)" in cp  # 0.51 s in all: a gain per minute of it is noise
    assert f"{delta / (720 / 60):+.4f}" in dh  # per fit + sampling minute


def test_all_na_quality_columns_collapse_into_one_note(report):
    _, out, _ = report
    md = (out / "results.md").read_text()
    quality = md.split("## Generation quality")[1].split("\n## ")[0]
    header = next(s for s in quality.splitlines() if s.startswith("| generator"))
    assert "IC-LPIPS" in header and "IS" not in header.replace("IC-LPIPS", "") and "FID" not in header
    notes = [s for s in quality.splitlines() if s.startswith("- ") and "Inception" in s]
    assert notes == ["- Not computed for any generator: FID, IS — FID, IS: Inception weights missing; run "
                     "`bench doctor`"]


def test_html_links_files_and_enlarges_sample_grids(report):
    run, out, _ = report
    html = (out / "index.html").read_text()
    hrefs = set(re.findall(r"href='([^']*)'", html))
    assert {"results.csv", "results.tex", "report.tex", "verdict.csv", "pixel_ap.pdf", "results.md"} <= hrefs
    assert all((out / h).is_file() for h in hrefs)  # no dead link
    assert f"sqlite:///{(run / 'mlflow.db').resolve()}" in html
    assert f"cd {out.resolve()} &amp;&amp; pdflatex report.tex" in html and "cells.json" in hrefs
    grids = [h for h in hrefs if h.startswith("samples/")]
    assert len(grids) == 2 * 3  # one grid per (category, generator that augments), first seed
    assert re.search(r"<a href='samples/[^']+' target='_blank'><img alt='[^']+' src='data:image/png;base64,", html)
    assert "width:372px" in html and "max-height:420px" not in html


def test_results_tex_says_what_it_needs(report):
    _, out, _ = report
    head = (out / "results.tex").read_text().splitlines()[:3]
    assert all(s.startswith("%") for s in head) and r"\usepackage{booktabs} \usepackage{graphicx}" in head[1]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (texlive-latex-base, "
                    "texlive-latex-recommended)")
def test_results_tex_compiles_in_a_document_with_only_the_packages_it_names(report):
    _, out, _ = report
    (out / "mine.tex").write_text("\n".join([r"\documentclass{article}", r"\usepackage{booktabs}",
                                             r"\usepackage{graphicx}", r"\begin{document}", r"\input{results.tex}",
                                             r"\end{document}", ""]))
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "mine.tex"], cwd=out,
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, (out / "mine.log").read_text(errors="replace")[-2000:]
    assert (out / "mine.pdf").stat().st_size > 5_000
