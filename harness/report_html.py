"""`index.html`: the whole report as one self-contained page (figures and sample grids inlined as base64).

One file a reader can mail or archive: tables, the signal check, statistics, figures, every
generator's sample grids per category and defect type, the spec, package versions, threads and
time per job. No JavaScript, no external CSS or fonts.
"""

from __future__ import annotations

import base64
import html
import json
import platform
import re
from pathlib import Path
from typing import Sequence

import pandas as pd

from harness.cells import ONE_CLASS

VERSIONED = ("torch", "torchvision", "anomalib", "torchmetrics", "torch-fidelity", "scipy", "statsmodels",
             "scikit-posthocs", "numpy", "pandas", "mlflow", "anomaly-aug-bench")

#: px a sample grid is shown at: 3 panels of ~120 px (image | mask | overlay), legible; a click opens the full PNG
GRID_WIDTH = 372
SAMPLES_DIR = "samples"

CSS = """body{font-family:system-ui,sans-serif;max-width:1180px;margin:24px auto;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0 18px;font-size:13px}th,td{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:center}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.warn{background:#fff3cd;border-left:4px solid #e0a800;padding:8px 12px}.note{color:#555;font-size:13px}
figure{margin:12px 0}figcaption{font-size:13px;color:#444}img{max-width:100%}
.grids{display:flex;flex-wrap:wrap;gap:12px}.grids figure{flex:0 0 auto;width:GRIDpx}.grids img{width:100%;
height:auto;border:1px solid #ccc}pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:12px}
.verdict{background:#eef6ee;border-left:4px solid #3a8a3a;padding:8px 12px}.verdict li{margin:4px 0}
.files a{margin-right:12px}summary{cursor:pointer;font-weight:600;margin:6px 0}""".replace("GRID", str(GRID_WIDTH))


def _inline(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _text(s: str) -> str:
    """Markdown-ish cell/line → HTML: escaped, **bold** and `code` kept."""
    out = html.escape(str(s))
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{_text(c)}</th>" for c in [frame.index.name or "", *frame.columns])
    rows = "".join("<tr>" + f"<td>{_text(i)}</td>" + "".join(f"<td>{_text(v)}</td>" for v in r) + "</tr>"
                   for i, r in zip(frame.index, frame.itertuples(index=False)))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _set_dir(run_dir: Path, manifest: str | None) -> Path | None:
    if not manifest:
        return None
    p = Path(manifest).parent
    if p.is_dir():
        return p
    tail = Path(manifest).parts[-5:-1]  # <dataset>/<category>/<generator>/<seed-fp>
    q = run_dir / "augmented" / Path(*tail)
    return q if q.is_dir() else None


def sample_grids(run_dir: Path, df: pd.DataFrame, gens: Sequence[str]) -> list[tuple[str, list[tuple[str, Path]]]]:
    """Per (category, generator), the first seed's grids: [(title, [(defect type, png)])]."""
    out = []
    cells = df[(df["generator"] != ONE_CLASS) & df.get("n_generated", 0).gt(0)]
    for (ds, cat), part in cells.groupby(["dataset", "category"], sort=True):
        for g in gens:
            rows = part[part["generator"] == g].sort_values("seed")
            if rows.empty or "augmented_manifest" not in rows.columns:
                continue
            d = _set_dir(run_dir, rows.iloc[0]["augmented_manifest"])
            if d is None:
                continue
            files = sorted(d.glob("grid*.png"))
            typed = [f for f in files if f.stem != "grid"]
            chosen = typed or files
            out.append((f"{ds}/{cat} · {g} (seed {rows.iloc[0]['seed']})",
                        [(f.stem[len("grid_"):] if f.stem.startswith("grid_") else "all types", f) for f in chosen]))
    return out


def _versions() -> str:
    from harness.runtime import package_versions

    items = [f"python {platform.python_version()}"]
    items += [f"{name} {v}" for name, v in package_versions(VERSIONED).items()]
    return ", ".join(items)


def _files(out_dir: Path, files: Sequence[Path], run_dir: Path) -> str:
    """Links to every file the report wrote (relative: they sit next to the page) and the MLflow command."""
    links = [f"<a href='{html.escape(f.relative_to(out_dir).as_posix())}'>{html.escape(f.name)}</a>"
             for f in files if f.is_file() and f.parent == out_dir and f.name != "index.html"]
    pdf = ("<a href='report.pdf'>report.pdf</a>" if (out_dir / "report.pdf").is_file() else
           f"(the PDF: <code>cd {html.escape(str(out_dir.resolve()))} &amp;&amp; pdflatex report.tex</code>)")
    out = f"<p class='files'><b>Files:</b> {' '.join(links)} {pdf}</p>" if links else ""
    db = run_dir / "mlflow.db"
    if db.is_file():
        out += (f"<p>Browse every cell in MLflow: <code>mlflow ui --backend-store-uri "
                f"sqlite:///{html.escape(str(db.resolve()))}</code></p>")
    return out


def _grids(out_dir: Path, grids: list[tuple[str, list[tuple[str, Path]]]]) -> list[str]:
    """Each grid at a legible width, a click away from its full-size PNG (copied to ``samples/``);
    one collapsible block per category, the first one open."""
    samples = out_dir / SAMPLES_DIR
    samples.mkdir(exist_ok=True)
    by_cat: dict[str, list[str]] = {}
    for name, files in grids:
        cat = name.split(" · ")[0]
        for defect, f in files:
            target = samples / (re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{name}__{defect}").strip("_") + ".png")
            target.write_bytes(f.read_bytes())
            href = html.escape(f"{SAMPLES_DIR}/{target.name}")
            by_cat.setdefault(cat, []).append(
                f"<figure><a href='{href}' target='_blank'><img alt='{html.escape(name)}' src='{_inline(f)}'></a>"
                f"<figcaption><b>{html.escape(name.split(' · ', 1)[-1])}</b> — {html.escape(defect)} "
                f"(<a href='{href}' target='_blank'>full size</a>)</figcaption></figure>")
    out = []
    for i, (cat, figs) in enumerate(by_cat.items()):
        out.append(f"<details{' open' if i == 0 else ''}><summary>{html.escape(cat)} ({len(figs)} grids)</summary>"
                   f"<div class='grids'>{''.join(figs)}</div></details>")
    return out


def write_html(path: Path, *, title: str, run_dir: Path, df: pd.DataFrame, gens: Sequence[str],
               signal_lines: list[str], warnings: list[str], tables: list[tuple[str, str, str, pd.DataFrame]],
               figures: list[tuple[str, list[Path]]], notes: list[str], verdict: Sequence[str] = (),
               verdict_note: str = "", files: Sequence[Path] = ()) -> Path:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    cats = sorted(df["category"].unique())
    seeds = sorted(df["seed"].unique())
    parts.append(f"<p>Categories: {html.escape(', '.join(cats))} · seeds: {', '.join(map(str, seeds))} · "
                 f"{len(df)} cells. Measured here, leak-free: no test anomaly reached a generator or a "
                 "detector's training, and no choice was made on test data.</p>")
    if verdict:
        parts.append("<div class='verdict'><h2>Verdict</h2><ul>" + "".join(f"<li>{_text(v)}</li>" for v in verdict)
                     + f"</ul><p class='note'>{_text(verdict_note)}</p></div>")
    parts.append(_files(path.parent, files, run_dir))
    if signal_lines:
        parts.append("<h2>Signal check</h2><ul>" + "".join(f"<li>{_text(s[2:])}</li>" for s in signal_lines) + "</ul>")
    for w in warnings:
        if w.strip():
            parts.append(f"<p class='warn'>{_text(w.lstrip('> '))}</p>")
    for key, heading, intro, frame in tables:
        if frame.empty:
            continue
        parts.append(f"<h2 id='{html.escape(key)}'>{_text(heading)}</h2>")
        if intro:
            parts.append(f"<p class='note'>{_text(intro)}</p>")
        parts.append(_table(frame))
        if key == "quality":
            parts += [f"<p class='note'>{_text(n)}</p>" for n in notes]
    if notes and not any(key == "quality" and not frame.empty for key, _, _, frame in tables):
        parts.append("<h2>Generation quality</h2>" + "".join(f"<p class='note'>{_text(n)}</p>" for n in notes))
    if figures:
        parts.append("<h2>Figures</h2>")
        for caption, paths in figures:
            png = next((p for p in paths if p.suffix == ".png"), None)
            if png is not None and png.is_file():
                parts.append(f"<figure><img alt='{html.escape(caption)}' src='{_inline(png)}'>"
                             f"<figcaption>{_text(caption)} (also {html.escape(png.with_suffix('.pdf').name)})"
                             "</figcaption></figure>")
    grids = sample_grids(run_dir, df, gens)
    if grids:
        parts.append("<h2>Samples: every generator, per category and defect type</h2><p class='note'>Each row: "
                     "image | mask | overlay. Click a grid for its full-size PNG.</p>")
        parts += _grids(path.parent, grids)
    spec = run_dir / "spec.json"
    parts.append("<h2>Run</h2>")
    if spec.is_file():
        s = json.loads(spec.read_text())
        parts.append(f"<p>Threads: <code>{html.escape(str(s.get('threads')))}</code> (spec; each MLflow run records "
                     "<code>torch_threads</code>) · device: "
                     f"<code>{html.escape(str(s.get('device')))}</code></p>")
        parts.append(f"<details><summary>spec</summary><pre>{html.escape(json.dumps(s, indent=1))}</pre></details>")
    parts.append(f"<p class='note'>Versions at report time: {html.escape(_versions())}</p></body></html>")
    from harness.fsio import write_text_atomic

    write_text_atomic(path, "\n".join(parts))
    return path
