"""harness.identity: a report selects its grid's cells; an old folder without a grid keeps the newest record of a cell."""

from __future__ import annotations

from harness.cells import CellKey, CellRecord
from harness.identity import cell_parts, code_hash, select, superseded_summary


def rec(gen: str, fp: str, seed: int = 0, auroc: float = 0.5) -> CellRecord:
    return CellRecord(CellKey("folder", "cat", gen, "det", seed, fp), {"image_auroc": auroc})


def test_grid_selects_exactly_its_cells_and_labels_the_rest():
    old, new, none = rec("cutpaste", "aaaaaa111111"), rec("cutpaste", "bbbbbb222222", auroc=0.9), rec("none", "cccccc")
    grid = {r.key.slug: cell_parts(r.key, "d", "g", "t", "r") for r in (new, none)}
    chosen, n_old = select([old, new, none], grid)
    assert chosen == [new, none] and n_old == 1
    shown, _ = select([old, new, none], grid, include_superseded=True)
    assert sorted(r.key.generator for r in shown) == ["cutpaste", "cutpaste [superseded aaaaaa]", "none"]


def test_without_a_grid_the_newest_record_of_a_cell_wins():
    older, newer = rec("cutpaste", "aaaa", auroc=0.1), rec("cutpaste", "bbbb", auroc=0.9)
    chosen, n_old = select([older, newer], None)  # oldest first
    assert chosen == [newer] and n_old == 1


def test_superseded_summary_says_what_changed():
    old, new = rec("cutpaste", "aaaa"), rec("cutpaste", "bbbb")
    previous = {old.key.slug: cell_parts(old.key, "data1", "gen1", "det1", "run1")}
    grid = {new.key.slug: cell_parts(new.key, "data1", "gen2", "det1", "run1")}
    assert superseded_summary([old, new], grid, previous) == [
        "1 cell(s) superseded: changed the generator's params or code"]
    gone = rec("draem", "cccc")
    assert "not in this spec's grid" in superseded_summary([gone], grid, previous)[0]


def _package(root, helper: str) -> None:
    pkg = root / "pluginpkg"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "base.py").write_text("class Base:\n    pass\n")
    (pkg / "helper.py").write_text(helper)
    (pkg / "unused.py").write_text("X = 1\n")
    (pkg / "plugin.py").write_text("from pluginpkg.base import Base\nfrom pluginpkg.helper import score\n\n"
                                   "class Plugin(Base):\n    pass\n")


def _fresh_plugin_class(monkeypatch, root):
    import importlib
    import sys

    for name in [m for m in sys.modules if m.split(".")[0] == "pluginpkg"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(root))
    code_hash.cache_clear()
    return importlib.import_module("pluginpkg.plugin").Plugin


def test_code_hash_covers_the_plugins_file_its_bases_and_the_helpers_it_imports(tmp_path, monkeypatch):
    """A change in a helper module of the plug-in's package (residual-seg's one_class_maps.py)
    changes the numbers as much as one in its own file: it must change the hash, and so
    supersede the plug-in's cells. A module it does not use does not."""
    from harness.identity import code_files

    _package(tmp_path, "def score(x):\n    return x\n")
    plugin = _fresh_plugin_class(monkeypatch, tmp_path)
    assert [p.name for p in code_files(plugin)] == ["base.py", "helper.py", "plugin.py"]
    before = code_hash(plugin)
    (tmp_path / "pluginpkg" / "unused.py").write_text("X = 2\n")
    assert code_hash(_fresh_plugin_class(monkeypatch, tmp_path)) == before
    (tmp_path / "pluginpkg" / "helper.py").write_text("def score(x):\n    return 2 * x\n")
    assert code_hash(_fresh_plugin_class(monkeypatch, tmp_path)) != before
    assert code_hash(int) == ""  # no source file
