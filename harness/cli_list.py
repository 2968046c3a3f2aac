"""`bench list` (every plug-in, fast) and `bench list NAME` (one plug-in's params per profile).

Listing must not import the plug-ins: their modules import torch, anomalib and diffusers, which
made `bench list` take 24 s. The entry points name each class's module and attribute, so the
one-line summary and the flags the list shows are read from the module's source (`ast`), not
executed. `bench list NAME` does import that one plug-in: its params are a pydantic model.
"""

from __future__ import annotations

import ast
import json
import importlib.util
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from harness.suggest import did_you_mean

#: entry-point group per kind, as in pyproject.toml
GROUPS = {"generators": "bench.generators", "detectors": "bench.detectors", "datasets": "bench.datasets"}
#: the flags `bench list` shows, by kind: (class attribute, value that earns the flag, flag)
FLAGS = {"generators": [("needs_real_anomalies", True, "needs real anomalies")],
         "detectors": [("uses_anomalies", False, "one-class")]}
PROFILES = ("cpu-quick", "gpu-full")


@dataclass(frozen=True)
class Listed:
    name: str
    summary: str
    flags: tuple[str, ...]


def _parse(module: str) -> ast.Module | None:
    """The module's syntax tree, found without importing it (parent packages' __init__ aside)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin, encoding="utf-8") as fh:
        return ast.parse(fh.read())


def _facts(module: str, name: str, seen: frozenset[tuple[str, str]] = frozenset()) -> dict[str, Any]:
    """Class-level constants of `module.name`, inherited ones first (bases followed through the
    module's own classes and its ``from x import Base`` lines)."""
    if (module, name) in seen:
        return {}
    tree = _parse(module)
    if tree is None:
        return {}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    imported = {a.asname or a.name: n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module
                and not n.level for a in n.names}
    node = classes.get(name)
    if node is None:
        return _facts(imported[name], name, seen | {(module, name)}) if name in imported else {}
    out: dict[str, Any] = {}
    for base in node.bases:  # inherited first, the class's own values override them
        if isinstance(base, ast.Name):
            where = module if base.id in classes else imported.get(base.id)
            if where is not None:
                out.update(_facts(where, base.id, seen | {(module, name)}))
    for stmt in node.body:
        target, value = None, None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            target, value = stmt.target.id, stmt.value
        if target is not None and isinstance(value, ast.Constant):
            out[target] = value.value
    return out


def _class_facts(module: str, attr: str) -> tuple[str, dict[str, Any]]:
    """(first docstring line, class-level constants) of `module:attr`, read from source."""
    tree = _parse(module)
    node = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == attr), None) if tree else None
    doc = (ast.get_docstring(node) or "").strip() if node is not None else ""
    return (doc.splitlines()[0] if doc else ""), _facts(module, attr)


def list_kind(kind: str) -> list[Listed]:
    """The plug-ins of one kind, by name, without importing any of them."""
    seen: dict[str, Listed] = {}
    for ep in entry_points(group=GROUPS[kind]):
        if ep.name in seen:  # the first distribution to claim a name keeps it (as the registry does)
            continue
        module, _, attr = ep.value.partition(":")
        summary, consts = _class_facts(module, attr)
        flags = tuple(flag for key, value, flag in FLAGS.get(kind, []) if consts.get(key) == value)
        seen[ep.name] = Listed(ep.name, summary, flags)
    return [seen[n] for n in sorted(seen)]


def all_names() -> dict[str, list[str]]:
    """Kind → plug-in names (entry points only: nothing imported)."""
    return {kind: sorted({ep.name for ep in entry_points(group=group)}) for kind, group in GROUPS.items()}


def _show(value: Any) -> str:
    """One cell of the params table, with no space in it: ``—`` (unset), a string as is, else JSON."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def describe_plugin(name: str) -> list[str]:
    """`bench list NAME`: the plug-in under every kind it is registered as, with each param's
    default and its value per profile. Raises UnknownNameError with a did-you-mean."""
    from pydantic_core import PydanticUndefined

    from harness.core.registry import DATASETS, DETECTORS, GENERATORS, UnknownNameError

    names = all_names()
    kinds = [k for k, ns in names.items() if name in ns]
    if not kinds:
        everything = sorted({n for ns in names.values() for n in ns})
        raise UnknownNameError(f"no plug-in '{name}'{did_you_mean(name, everything)}; `bench list` shows them all")
    registries = {"generators": GENERATORS, "detectors": DETECTORS, "datasets": DATASETS}
    lines: list[str] = []
    for kind in kinds:
        cls = registries[kind].get(name)
        doc = (cls.__doc__ or "").strip().splitlines()
        lines.append(f"{kind[:-1]} {name}: {doc[0] if doc else ''}")
        fields = cls.Params.model_fields
        if not fields:
            lines.append("  (no params)")
            continue
        defaults = getattr(cls, "profile_defaults", {}) or {}
        header = ["param", "default", *PROFILES]
        rows = []
        for field, info in fields.items():
            default = None if info.default is PydanticUndefined else info.default
            if info.default_factory is not None:
                default = info.default_factory()
            per_profile = [_show(defaults.get(p, {}).get(field, default)) for p in PROFILES]
            rows.append([field, _show(default), *per_profile])
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        lines.append(f"  set one in a spec: {kind}: [{{name: {name}, params: {{{rows[0][0]}: ...}}}}]")
    return lines
