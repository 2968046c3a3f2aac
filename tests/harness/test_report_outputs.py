"""The report's statistics, figures, self-contained HTML page and LaTeX that compiles."""

import base64
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from harness.cells import ONE_CLASS, CellKey, CellRecord, CellStore
from harness.report import write_report

GENS = ["none", "cutpaste", "copy-paste", "dhdiff"]
CATS = ["c1", "c2", "c3"]
#: pixel AP per generator; each (category, seed) adds its own offset, shared by all generators
LEVEL = {"none": 0.05, "cutpaste": 0.30, "copy-paste": 0.50, "dhdiff": 0.35}
KID = {"cutpaste": 0.08, "copy-paste": 0.02, "dhdiff": 0.05}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("grid")
    store = CellStore(tmp_path / "run")
    rng = np.random.default_rng(0)
    for c, cat in enumerate(CATS):
        for seed in (0, 1):
            off = 0.02 * c + 0.01 * seed
            for g in GENS:
                pap = LEVEL[g] + off + rng.normal(0, 0.01)
                gen = {} if g == "none" else {
                    "kid": {"value": KID[g] + 0.001 * c, "unavailable": None, "params": {"subset_size": 8}},
                    "is": {"value": None, "unavailable": "weights missing; run bench doctor", "params": {}}}
                store.save(CellRecord(CellKey("builtin", cat, g, "seg", seed, "f"),
                                      {"pixel_ap": pap, "image_auroc": 0.5 + pap / 2}, generation=gen,
                                      n_generated=0 if g == "none" else 8, seconds=1.5))
            store.save(CellRecord(CellKey("builtin", cat, ONE_CLASS, "padim", seed, "f"),
                                  {"pixel_ap": 0.25 + off, "image_auroc": 0.7}, seconds=2.0))
    return tmp_path / "run"


@pytest.fixture(scope="module")
def report(run_dir):
    out = run_dir.parent / "rep"  # rendered once for every test of this module (CPU time)
    paths = write_report(run_dir, out, title="grid_1: 3 categories", metrics=["image_auroc", "pixel_ap"],
                         generator_order=GENS, detector_order=["seg", "padim"])
    return out, paths


def _cells(run_dir):
    from harness.report import collect_results

    df = collect_results(run_dir)
    return df[df.generator != ONE_CLASS]


def test_paired_statistics_ranks_and_correlation_in_the_markdown(report, run_dir):
    out, paths = report
    md = (out / "results.md").read_text()
    df = _cells(run_dir)
    piv = df["pixel_ap"].groupby([df.generator, df.category, df.seed]).first().unstack(0)
    diff = (piv["copy-paste"] - piv["none"]).to_numpy()
    p = scipy.stats.wilcoxon(diff).pvalue  # 6 pairs, all positive: 2/64
    assert p == pytest.approx(1 / 32)
    vs_none = md.split("### vs `none`")[1].split("###")[0]
    row = next(line for line in vs_none.splitlines() if line.startswith("| copy-paste"))
    assert f"{diff.mean():+.3f} [" in row and "(6/6)" in row
    # Holm over the table: 3 generators × 2 metrics, all 1/32 → 6/32 = 0.19
    assert "p=0.19" in row
    ranks = md.split("## Average ranks and critical difference")[1].split("\n## ")[0]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in ranks.splitlines()
            if line.startswith("| ") and not line.startswith("| generator")}
    assert rows["copy-paste"] == ["**1.00**", "**1.00**"] and rows["none"] == ["4.00", "4.00"]
    # Friedman on 3 blocks with the same order each time: χ² = 9, df 3; CD = 2.569·sqrt(4·5/(6·3))
    assert rows["Friedman p"][0] == f"{scipy.stats.chi2.sf(9.0, 3):.2g}" and rows["Nemenyi CD (α 0.05)"][0] == "2.71"
    assert (out / "cd_seg_pixel_ap.png").is_file() and (out / "cd_seg_pixel_ap.pdf").is_file()
    corr = pd.read_csv(out / "correlation.csv")
    r = corr[(corr.quality == "gen_kid") & (corr.metric == "pixel_ap") & (corr.scope == "all")].iloc[0]
    means = df.groupby("generator")[["gen_kid", "pixel_ap"]].mean().dropna()
    assert r["rho"] == pytest.approx(scipy.stats.spearmanr(means["gen_kid"], means["pixel_ap"]).statistic) == -1.0
    assert "| KID " in md.split("## Quality ↔ detection")[1]
    paired = pd.read_csv(out / "paired.csv")
    assert set(paired.reference) == {"none", "copy-paste"}
    assert {"ci_low", "ci_high", "p_wilcoxon", "p_holm", "wins", "n_pairs"} <= set(paired.columns)
    assert {p.suffix for p in paths} >= {".md", ".csv", ".tex", ".png", ".pdf", ".html"}


def test_report_is_deterministic(run_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        write_report(run_dir, out, title="t", metrics=["image_auroc", "pixel_ap"], generator_order=GENS)
    for name in ("results.md", "results.tex", "paired.csv", "correlation.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_html_is_one_self_contained_page(report):
    out, _ = report
    page = (out / "index.html").read_text()
    srcs = re.findall(r"src='([^']*)'", page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)  # nothing fetched from elsewhere
    base64.b64decode(srcs[0].split(",", 1)[1], validate=True)
    for heading in ("Signal check", "Paired statistics vs none", "Average ranks", "Quality vs detection",
                    "One-class references", "Wall time per cell", "Generation quality"):
        assert heading in page, heading
    assert "<b>" in page and "**" not in page  # bold rendered, not Markdown
    assert "weights missing; run bench doctor" in page  # the n/a reason


def _md_tables(md: str) -> int:
    return sum(1 for line in md.splitlines() if re.match(r"^\|[:\-| ]+\|$", line))


def test_latex_has_a_twin_of_every_markdown_table(report):
    out, _ = report
    tex = (out / "results.tex").read_text()
    md = (out / "results.md").read_text()
    assert tex.count("\\begin{table}") == _md_tables(md) == tex.count("\\caption{")
    assert "\\multicolumn{2}{c}{seg}" in tex and "\\cmidrule(lr){2-3}" in tex and "seg P-AP" not in tex
    assert "generator & & &" not in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (texlive-latex-base, "
                    "texlive-latex-recommended)")
def test_latex_compiles_with_pdflatex_and_fits_the_page(report):
    out, _ = report
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"], cwd=out,
                         capture_output=True, text=True, timeout=180)
    log = (out / "report.log").read_text(errors="replace")
    assert res.returncode == 0, log[-2000:]
    assert (out / "report.pdf").stat().st_size > 10_000
    assert "Overfull \\hbox" not in log  # no table or figure wider than the text
