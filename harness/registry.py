"""One registry pattern for generators, detectors and datasets.

Built-in plug-ins register themselves with a decorator when their module is imported;
the registry imports every module of its home packages on first look-up, so adding a
plug-in is adding a file. Third-party packages plug in through entry-point groups
(``bench.generators``, ``bench.detectors``, ``bench.datasets``): the entry point names
the plug-in and points at its class.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Iterable, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A spec or command named a plug-in that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    obj: T
    summary: str
    origin: str  # "builtin" or the entry point's distribution/module


def _summary(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


class Registry(Generic[T]):
    """Name → plug-in class, filled by decorators and entry points."""

    def __init__(self, kind: str, *, packages: Iterable[str] = (), group: str | None = None):
        self.kind = kind
        self.group = group
        self._packages = tuple(packages)
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False

    def register(self, name: str, *, aliases: Iterable[str] = ()) -> Callable[[T], T]:
        """Decorator: ``@GENERATORS.register("cutpaste")``."""

        def decorate(obj: T) -> T:
            for key in (name, *aliases):
                existing = self._entries.get(key)
                if existing is not None and existing.obj is not obj:
                    raise ValueError(
                        f"{self.kind} name '{key}' is registered twice "
                        f"({existing.obj!r} and {obj!r}); pick another name"
                    )
                self._entries[key] = Entry(key, obj, _summary(obj), "builtin")
            return obj

        return decorate

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for package_name in self._packages:
            package = importlib.import_module(package_name)
            for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
                leaf = info.name.rsplit(".", 1)[-1]
                if leaf.startswith("_") or leaf.startswith("test"):
                    continue
                importlib.import_module(info.name)
        if self.group:
            for ep in entry_points(group=self.group):
                if ep.name in self._entries:
                    continue  # built-ins win; a plug-in cannot shadow them silently
                obj = ep.load()
                self._entries[ep.name] = Entry(ep.name, obj, _summary(obj), ep.value)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        self._load()
        return [self._entries[n] for n in sorted(self._entries)]

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._entries[name].obj
        except KeyError:
            close = [n for n in self._entries if n.startswith(name[:3])] if name else []
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'{hint}; registered: {', '.join(sorted(self._entries))}"
            ) from None

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries


GENERATORS: Registry[Any] = Registry("generator", packages=["generators"], group="bench.generators")
DETECTORS: Registry[Any] = Registry("detector", packages=["detectors"], group="bench.detectors")
DATASETS: Registry[Any] = Registry("dataset", packages=["harness.data.adapters"], group="bench.datasets")
