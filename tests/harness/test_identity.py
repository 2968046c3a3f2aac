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


def test_code_hash_is_the_hash_of_the_plugins_source_file():
    import hashlib
    import inspect
    from pathlib import Path

    from harness.identity import plugin_identity

    expected = hashlib.sha256(Path(inspect.getsourcefile(CellKey)).read_bytes()).hexdigest()[:12]
    assert code_hash(CellKey) == code_hash(CellRecord) == expected  # one file, one hash
    assert code_hash(CellKey) != code_hash(plugin_identity.__class__)  # another file (builtins: "")
