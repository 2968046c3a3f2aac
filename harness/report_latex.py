"""LaTeX twins of the report's tables: booktabs, a two-level header per detector, and a document that compiles.

Why hand-written instead of `DataFrame.style.to_latex`: pandas gives a bare tabular (no table
environment, caption or label), repeats the detector name in every column header and cannot
shrink a table wider than the text. Here columns named "<detector> <metric>" become one
`\\multicolumn` per detector with a `\\cmidrule` under it and the metric's short name below;
a table wider than the line is scaled down to it (`\\resizebox` with the `\\width` test), never up.
"""

from __future__ import annotations

import re
from typing import Sequence

import pandas as pd

_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
            "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


_UNICODE = {"±": r"$\pm$", "−": "--", "–": "--", "—": "---", "×": r"$\times$", "ρ": r"$\rho$", "α": r"$\alpha$",
            "Δ": r"$\Delta$", "≥": r"$\geq$", "≤": r"$\leq$", "→": r"$\rightarrow$", "↔": r"$\leftrightarrow$",
            "…": r"\dots{}", "·": r"$\cdot$", "ⁿ": r"$^n$", "∞": r"$\infty$", "’": "'", "š": r"\v{s}",
            "≈": r"$\approx$", ">": r"$>$", "<": r"$<$", "₀": r"$_0$", "₉": r"$_9$", "₇": r"$_7$", "₅": r"$_5$"}


def escape(text: str) -> str:
    """Plain text → LaTeX (names like `copy-paste`, `mvtec_ad/bottle`; the report's few symbols in math)."""
    return "".join(_SPECIAL.get(ch) or _UNICODE.get(ch) or (ch if ord(ch) < 128 else "?") for ch in str(text))


def cell(text: str) -> str:
    """A Markdown table cell → LaTeX: **bold** → \\textbf, ± → $\\pm$, other specials escaped."""
    text = str(text)
    if "$\\pm$" in text or "\\textbf" in text:  # already LaTeX
        return text
    bold = text.startswith("**") and text.endswith("**") and len(text) > 4
    if bold:
        text = text[2:-2]
    out = escape(text)
    return rf"\textbf{{{out}}}" if bold else out


def _split_header(columns: Sequence[str], groups: Sequence[str]) -> list[tuple[str, str]]:
    """'frozen-seg P-AP' → ('frozen-seg', 'P-AP') where the column starts with a known group name."""
    out = []
    for c in columns:
        g = next((g for g in sorted(groups, key=len, reverse=True) if g and str(c).startswith(g + " ")), "")
        out.append((g, str(c)[len(g) + 1:] if g else str(c)))
    return out


def table(df: pd.DataFrame, *, caption: str, label: str, groups: Sequence[str] = (), note: str = "") -> str:
    """One `table` environment; `groups` (detector names) prefix column names and become the top header."""
    header = _split_header(list(df.columns), groups)
    ncol = len(header)
    lines = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{cell(caption)}}}\label{{{label}}}", r"\small",
             r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%",
             rf"\begin{{tabular}}{{l{'c' * ncol}}}", r"\toprule"]
    if any(g for g, _ in header):
        top, rules, col = [""], [], 2
        i = 0
        while i < ncol:
            g = header[i][0]
            j = i
            while j + 1 < ncol and header[j + 1][0] == g:
                j += 1
            span = j - i + 1
            top.append(rf"\multicolumn{{{span}}}{{c}}{{{escape(g)}}}" if g else "")
            if g:
                rules.append(rf"\cmidrule(lr){{{col}-{col + span - 1}}}")
            col += span
            i = j + 1
        lines += [" & ".join(top) + r" \\", "".join(rules)]
    index_name = escape(df.index.name or "")
    lines.append(" & ".join([index_name] + [cell(m) for _, m in header]) + r" \\")
    lines.append(r"\midrule")
    for idx, row in df.iterrows():
        lines.append(" & ".join([escape(idx)] + [cell(v) for v in row.tolist()]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}"]
    if note:
        lines += [r"\par\smallskip", rf"\parbox{{\linewidth}}{{\footnotesize {cell(note)}}}"]
    lines += [r"\end{table}", ""]
    return "\n".join(lines)


def document(title: str, body: str) -> str:
    """A standalone article that \\input{}s nothing: `pdflatex report.tex` builds every table and figure."""
    return "\n".join([
        r"\documentclass[10pt]{article}",
        r"\usepackage[utf8]{inputenc}",
        r"\usepackage[margin=2.2cm]{geometry}", *[rf"\usepackage{{{p}}}" for p in PACKAGES],
        r"\usepackage{float}",
        rf"\title{{{cell(title)}}}", r"\author{}", r"\date{}", r"\begin{document}", r"\maketitle", body, r"\end{document}", ""])


#: what `results.tex` needs from the document that \input's it (\resizebox is graphicx's)
PACKAGES = ("booktabs", "graphicx")


def results_file(tables: Sequence[str]) -> str:
    r"""`results.tex`: the tables, after a header saying which packages a document must load to \input it."""
    header = ["% results.tex -- every table of the report, written by `bench report`.",
              "% To \\input{results.tex} from your own document, load: "
              + " ".join(rf"\usepackage{{{p}}}" for p in PACKAGES),
              "% (booktabs: \\toprule/\\midrule/\\cmidrule; graphicx: \\resizebox). report.tex is such a document.", ""]
    return "\n".join(header + list(tables))


def _inline_markdown(text: str) -> str:
    """A Markdown sentence → LaTeX: **bold** → \\textbf, `code` marks dropped, the rest escaped."""
    parts = re.sub(r"`", "", text).split("**")
    return "".join(rf"\textbf{{{escape(p)}}}" if i % 2 else escape(p) for i, p in enumerate(parts))


def itemize(items: Sequence[str]) -> str:
    """Markdown sentences (the verdict, the signal check) as a LaTeX itemize."""
    if not items:
        return ""
    return "\n".join([r"\begin{itemize}", *[rf"\item {_inline_markdown(i)}" for i in items], r"\end{itemize}", ""])


def figure(path: str, caption: str, label: str) -> str:
    return "\n".join([r"\begin{figure}[htbp]", r"\centering",
                      rf"\includegraphics[width=\linewidth,height=0.4\textheight,keepaspectratio]{{{path}}}",
                      rf"\caption{{{cell(caption)}}}\label{{{label}}}", r"\end{figure}", ""])


def label_of(text: str) -> str:
    return "tab:" + re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
