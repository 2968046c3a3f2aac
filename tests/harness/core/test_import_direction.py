"""Dependencies point one way: plug-ins (generators/, detectors/) depend on the harness, never the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PLUGIN_PACKAGES = ("generators", "detectors")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an `import` / `from ... import` names, at any depth (function-level imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _sources(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no sources under {ROOT / package}"
    return files


@pytest.mark.parametrize("path", _sources("harness"), ids=lambda p: str(p.relative_to(ROOT)))
def test_harness_imports_no_plugin_package(path):
    bad = [f"{path.relative_to(ROOT)}:{line}: imports {mod}" for line, mod in _imported_modules(path)
           if mod.split(".")[0] in PLUGIN_PACKAGES]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", _sources("harness/core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_only_core(path):
    """The contracts stand alone: harness.core needs no other part of the harness."""
    bad = [f"{path.relative_to(ROOT)}:{line}: imports {mod}" for line, mod in _imported_modules(path)
           if mod.split(".")[0] == "harness" and not (mod == "harness.core" or mod.startswith("harness.core."))]
    assert not bad, "\n".join(bad)


def test_the_check_sees_a_violation(tmp_path):
    """The scanner itself: a function-level plug-in import is found."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from detectors.base import TrainSet\n    import generators.none\n")
    assert [m for _, m in _imported_modules(src)] == ["detectors.base", "generators.none"]
